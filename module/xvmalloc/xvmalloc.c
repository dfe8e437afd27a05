// SPDX-License-Identifier: GPL-2.0-only
/*
 * xvmalloc: O(1) allocator of small objects in mappable pages, with
 * compaction.  The layout is described in xvmalloc_int.h.
 */
#include <linux/errno.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "xvmalloc_int.h"

#define xv_map_page(page)	rz_kmap_local(page)
#define xv_unmap_page(addr)	rz_kunmap_local(addr)

/* ---- block headers ---------------------------------------------------- */

static inline u32 *xv_hdr(void *base, u32 off)
{
	return (u32 *)((u8 *)base + off);
}

static inline u32 blk_size(u32 h)
{
	return (h & XV_UNIT_MASK) << XV_ALIGN_SHIFT;
}

static inline u32 blk_prev(u32 h)
{
	return ((h >> XV_UNIT_BITS) & XV_UNIT_MASK) << XV_ALIGN_SHIFT;
}

static inline bool blk_is_free(u32 h)
{
	return h & XV_HDR_FREE;
}

static inline u32 mk_hdr(u32 size, u32 prev, bool is_free)
{
	return (size >> XV_ALIGN_SHIFT) |
	       ((prev >> XV_ALIGN_SHIFT) << XV_UNIT_BITS) |
	       (is_free ? XV_HDR_FREE : 0);
}

static inline void set_prev_field(void *base, u32 off, u32 prev)
{
	u32 *hdr = xv_hdr(base, off);

	*hdr = mk_hdr(blk_size(*hdr), prev, blk_is_free(*hdr));
}

/* ---- free block links ------------------------------------------------- */

static inline u16 *link_offsets(void *base, u32 off)
{
	return (u16 *)((u8 *)base + off + 4);
}

static inline u8 *link_pages(void *base, u32 off)
{
	return (u8 *)base + off + XV_HDR_SIZE;
}

static void get_link(void *base, u32 off, int which, struct xv_flink *l)
{
	memcpy(&l->page, link_pages(base, off) + which * sizeof(void *),
	       sizeof(void *));
	l->offset = link_offsets(base, off)[which];
}

static void set_link(void *base, u32 off, int which,
		     struct page *page, u16 offset)
{
	memcpy(link_pages(base, off) + which * sizeof(void *), &page,
	       sizeof(void *));
	link_offsets(base, off)[which] = offset;
}

#define LINK_NEXT	0
#define LINK_PREV	1

/* Map @page unless it is @cur, which is already mapped at @cur_base. */
static inline void *map_other(struct page *page, struct page *cur,
			      void *cur_base)
{
	return page == cur ? cur_base : xv_map_page(page);
}

static inline void unmap_other(void *base, void *cur_base)
{
	if (base != cur_base)
		xv_unmap_page(base);
}

/* ---- free lists and bitmaps ------------------------------------------- */

static void list_insert(struct xv_pool *pool, struct page *page, void *base,
			u32 off, u32 size)
{
	u32 idx = size >> XV_LIST_SHIFT;
	struct xv_flink head = pool->freelist[idx];

	set_link(base, off, LINK_NEXT, head.page, head.offset);
	set_link(base, off, LINK_PREV, NULL, 0);
	if (head.page) {
		void *hb = map_other(head.page, page, base);

		set_link(hb, head.offset, LINK_PREV, page, off);
		unmap_other(hb, base);
	}
	pool->freelist[idx].page = page;
	pool->freelist[idx].offset = off;
	__set_bit(idx % BITS_PER_LONG, &pool->slbitmap[idx / BITS_PER_LONG]);
	__set_bit(idx / BITS_PER_LONG, &pool->flbitmap);
}

static void list_remove(struct xv_pool *pool, struct page *page, void *base,
			u32 off, u32 size)
{
	u32 idx = size >> XV_LIST_SHIFT;
	struct xv_flink next, prev;

	get_link(base, off, LINK_NEXT, &next);
	get_link(base, off, LINK_PREV, &prev);
	if (prev.page) {
		void *pb = map_other(prev.page, page, base);

		set_link(pb, prev.offset, LINK_NEXT, next.page, next.offset);
		unmap_other(pb, base);
	} else {
		pool->freelist[idx] = next;
	}
	if (next.page) {
		void *nb = map_other(next.page, page, base);

		set_link(nb, next.offset, LINK_PREV, prev.page, prev.offset);
		unmap_other(nb, base);
	}
	if (!pool->freelist[idx].page) {
		u32 w = idx / BITS_PER_LONG;

		__clear_bit(idx % BITS_PER_LONG, &pool->slbitmap[w]);
		if (!pool->slbitmap[w])
			__clear_bit(w, &pool->flbitmap);
	}
}

/* First non-empty list with index >= @idx, or -1. */
static int find_list(struct xv_pool *pool, u32 idx)
{
	u32 w = idx / BITS_PER_LONG;
	unsigned long bits;

	if (idx >= XV_NR_LISTS)
		return -1;
	bits = pool->slbitmap[w] & (~0UL << (idx % BITS_PER_LONG));
	if (bits)
		return w * BITS_PER_LONG + __ffs(bits);
	if (w + 1 >= XV_NR_WORDS)
		return -1;
	bits = pool->flbitmap & (~0UL << (w + 1));
	if (!bits)
		return -1;
	w = __ffs(bits);
	return w * BITS_PER_LONG + __ffs(pool->slbitmap[w]);
}

/* Last non-empty list with index <= @idx, or -1. */
static int find_last_list(struct xv_pool *pool, u32 idx)
{
	u32 w = idx / BITS_PER_LONG, b = idx % BITS_PER_LONG;
	unsigned long bits;

	bits = pool->slbitmap[w];
	if (b < BITS_PER_LONG - 1)
		bits &= (2UL << b) - 1;
	if (bits)
		return w * BITS_PER_LONG + __fls(bits);
	bits = pool->flbitmap & ((1UL << w) - 1);
	if (!bits)
		return -1;
	w = __fls(bits);
	return w * BITS_PER_LONG + __fls(pool->slbitmap[w]);
}

/* ---- per-page accounting ---------------------------------------------- */

static inline unsigned long pg_used(struct page *page)
{
	return page_private(page) & XV_PG_USED_MASK;
}

static inline bool pg_parked(struct page *page)
{
	return page_private(page) & (XV_PG_ISOLATED | XV_PG_TRIED);
}

static inline u32 bucket_of(unsigned long used)
{
	u32 b = (used * XV_NR_BUCKETS) >> PAGE_SHIFT;

	return b < XV_NR_BUCKETS ? b : XV_NR_BUCKETS - 1;
}

static void pg_set_used(struct xv_pool *pool, struct page *page,
			unsigned long used)
{
	unsigned long priv = page_private(page);
	unsigned long old = priv & XV_PG_USED_MASK;

	set_page_private(page, (priv & ~XV_PG_USED_MASK) | used);
	pool->used_bytes = pool->used_bytes - old + used;
	if (!pg_parked(page) && bucket_of(old) != bucket_of(used))
		list_move(&page->lru, &pool->buckets[bucket_of(used)]);
}

static void pg_set_flags(struct page *page, unsigned long set,
			 unsigned long clear)
{
	set_page_private(page, (page_private(page) & ~clear) | set);
}

/* ---- allocation ------------------------------------------------------- */

/* Called locked when free space shrinks: compaction measures from here. */
static void lower_compact_mark(struct xv_pool *pool)
{
	u64 free_bytes = ((u64)pool->obj_pages << PAGE_SHIFT) -
			 pool->used_bytes;

	if (free_bytes < pool->compact_mark)
		pool->compact_mark = free_bytes;
}

/*
 * Allocate @bsize bytes at the start of the free block (@off, @fsize) of
 * @page, which is off the free lists; the rest, if large enough to be a
 * block, becomes a free block.  Returns the payload offset.
 */
static u32 carve(struct xv_pool *pool, struct page *page, void *base,
		 u32 off, u32 fsize, u32 bsize, u32 tag)
{
	u32 *hdr = xv_hdr(base, off);
	u32 prev = blk_prev(*hdr);

	if (fsize - bsize >= XV_MIN_BLOCK) {
		u32 roff = off + bsize;
		u32 rsize = fsize - bsize;

		*xv_hdr(base, roff) = mk_hdr(rsize, off, true);
		if (roff + rsize < PAGE_SIZE)
			set_prev_field(base, roff + rsize, roff);
		list_insert(pool, page, base, roff, rsize);
	} else {
		bsize = fsize;
	}
	hdr[0] = mk_hdr(bsize, prev, false);
	hdr[1] = tag;
	pg_set_used(pool, page, pg_used(page) + bsize);
	pool->nr_objs++;
	lower_compact_mark(pool);
	return off + XV_HDR_SIZE;
}

static inline unsigned long total_pages(struct xv_pool *pool)
{
	return pool->obj_pages + pool->raw_pages + pool->nr_spare;
}

/* Called locked; reserves a page of the cap for an allocation. */
static int reserve_page(struct xv_pool *pool)
{
	if (pool->limit && total_pages(pool) + pool->reserved >= pool->limit)
		return -ENOSPC;
	pool->reserved++;
	return 0;
}

static bool __maybe_unused head_fits(struct xv_pool *pool, int idx,
				     u32 bsize)
{
	struct xv_flink head = pool->freelist[idx];
	void *base;
	u32 size;

	if (!head.page)
		return false;
	base = xv_map_page(head.page);
	size = blk_size(*xv_hdr(base, head.offset));
	xv_unmap_page(base);
	return size >= bsize;
}

/*
 * The list to take a block of @bsize bytes from: the first non-empty list
 * whose blocks all hold it, which is the best fit, or -1.
 */
static int find_fit(struct xv_pool *pool, u32 bsize)
{
	int idx = find_list(pool, DIV_ROUND_UP(bsize, XV_LIST_GRAIN));

#if XV_LIST_SHIFT > XV_ALIGN_SHIFT
	/* coarse lists: the head of the list below may fit as well */
	if (bsize % XV_LIST_GRAIN && head_fits(pool, bsize >> XV_LIST_SHIFT,
					       bsize))
		idx = bsize >> XV_LIST_SHIFT;
#endif
	return idx;
}

/*
 * Called locked, returns locked (the lock is dropped to allocate): a spare
 * page, or a new one within the cap.  The caller counts it in.
 */
static struct page *pool_get_page(struct xv_pool *pool, gfp_t flags,
				  int *err)
{
	struct page *page;

	if (pool->nr_spare) {
		page = list_first_entry(&pool->spare, struct page, lru);
		list_del(&page->lru);
		pool->nr_spare--;
		return page;
	}
	*err = reserve_page(pool);
	if (*err)
		return NULL;
	spin_unlock(&pool->lock);
	page = alloc_page(flags);
	spin_lock(&pool->lock);
	pool->reserved--;
	if (!page)
		*err = -ENOMEM;
	return page;
}

/* Called locked: with nothing else left, hand the spare pages to @out. */
static void drop_spare_if_idle(struct xv_pool *pool, struct list_head *out)
{
	if (pool->nr_objs || pool->raw_pages || !pool->nr_spare)
		return;
	list_splice_init(&pool->spare, out);
	pool->nr_spare = 0;
	lower_compact_mark(pool);
}

static void free_page_list(struct list_head *head)
{
	struct page *page, *tmp;

	list_for_each_entry_safe(page, tmp, head, lru) {
		list_del(&page->lru);
		set_page_private(page, 0);
		__free_page(page);
	}
}

static int __xv_malloc(struct xv_pool *pool, u32 size, u32 tag,
		       struct page **page, u32 *offset, gfp_t flags,
		       bool may_grow)
{
	struct page *np;
	void *base;
	u32 bsize;
	int idx, err;

	if (!size || size > XV_MAX_ALLOC_SIZE)
		return -EINVAL;
	bsize = max_t(u32, ALIGN(size + XV_HDR_SIZE, XV_ALIGN), XV_MIN_BLOCK);

	spin_lock(&pool->lock);
	idx = find_fit(pool, bsize);
	if (idx >= 0) {
		struct xv_flink l = pool->freelist[idx];
		u32 fsize;

		base = xv_map_page(l.page);
		fsize = blk_size(*xv_hdr(base, l.offset));
		list_remove(pool, l.page, base, l.offset, fsize);
		*offset = carve(pool, l.page, base, l.offset, fsize, bsize, tag);
		*page = l.page;
		xv_unmap_page(base);
		spin_unlock(&pool->lock);
		return 0;
	}

	err = -ENOSPC;
	np = may_grow ? pool_get_page(pool, flags, &err) : NULL;
	if (!np) {
		spin_unlock(&pool->lock);
		return err;
	}
	pool->obj_pages++;
	set_page_private(np, 0);
	list_add(&np->lru, &pool->buckets[0]);
	base = xv_map_page(np);
	*xv_hdr(base, 0) = mk_hdr(PAGE_SIZE, 0, true);
	*offset = carve(pool, np, base, 0, PAGE_SIZE, bsize, tag);
	*page = np;
	xv_unmap_page(base);
	spin_unlock(&pool->lock);
	return 0;
}

int xv_malloc(struct xv_pool *pool, u32 size, u32 tag,
	      struct page **page, u32 *offset, gfp_t flags)
{
	return __xv_malloc(pool, size, tag, page, offset, flags, true);
}

int xv_malloc_part(struct xv_pool *pool, u32 min, u32 max, u32 tag,
		   struct page **page, u32 *offset, u32 *size)
{
	u32 lo, hi, fsize, bsize;
	struct xv_flink l;
	void *base;
	int idx;

	if (!min || min > max || max > XV_MAX_ALLOC_SIZE)
		return -EINVAL;
	lo = max_t(u32, ALIGN(min + XV_HDR_SIZE, XV_ALIGN), XV_MIN_BLOCK);
	hi = max_t(u32, ALIGN(max + XV_HDR_SIZE, XV_ALIGN), XV_MIN_BLOCK);

	spin_lock(&pool->lock);
	/*
	 * A block that holds @max whole, the best fit of them, so that a caller
	 * which would otherwise split its object (@min < @max) or add a page
	 * (@min == @max) does not; else the largest block below that.
	 */
	idx = find_fit(pool, hi);
	if (idx < 0)
		idx = find_last_list(pool, min_t(u32, hi >> XV_LIST_SHIFT,
						 XV_NR_LISTS - 1));
	if (idx < 0)
		goto none;
	l = pool->freelist[idx];
	base = xv_map_page(l.page);
	fsize = blk_size(*xv_hdr(base, l.offset));
	if (fsize < lo) {
		xv_unmap_page(base);
		goto none;
	}
	bsize = min(fsize, hi);
	list_remove(pool, l.page, base, l.offset, fsize);
	*offset = carve(pool, l.page, base, l.offset, fsize, bsize, tag);
	*page = l.page;
	*size = min(blk_size(*xv_hdr(base, l.offset)) - XV_HDR_SIZE, max);
	xv_unmap_page(base);
	spin_unlock(&pool->lock);
	return 0;
none:
	spin_unlock(&pool->lock);
	return -ENOSPC;
}

static void release_page(struct xv_pool *pool, struct page *page)
{
	list_del(&page->lru);
	pool->obj_pages--;
	lower_compact_mark(pool);
}

void xv_free(struct xv_pool *pool, struct page *page, u32 offset)
{
	u32 off = offset - XV_HDR_SIZE;
	LIST_HEAD(to_free);
	u32 size, prev, h;
	bool isolated;
	void *base;

	if (WARN_ON_ONCE(offset < XV_HDR_SIZE || offset >= PAGE_SIZE ||
			 offset % XV_ALIGN))
		return;

	spin_lock(&pool->lock);
	base = xv_map_page(page);
	h = *xv_hdr(base, off);
	if (WARN_ON_ONCE(blk_is_free(h))) {
		xv_unmap_page(base);
		spin_unlock(&pool->lock);
		return;
	}
	size = blk_size(h);
	prev = blk_prev(h);
	isolated = page_private(page) & XV_PG_ISOLATED;
	pg_set_used(pool, page, pg_used(page) - size);
	pool->nr_objs--;

	if (off + size < PAGE_SIZE) {
		u32 nh = *xv_hdr(base, off + size);

		if (blk_is_free(nh)) {
			if (!isolated)
				list_remove(pool, page, base, off + size,
					    blk_size(nh));
			size += blk_size(nh);
		}
	}
	if (off) {
		u32 ph = *xv_hdr(base, prev);

		if (blk_is_free(ph)) {
			if (!isolated)
				list_remove(pool, page, base, prev,
					    blk_size(ph));
			size += blk_size(ph);
			off = prev;
			prev = blk_prev(ph);
		}
	}

	if (size == PAGE_SIZE && !isolated) {
		release_page(pool, page);
		xv_unmap_page(base);
		list_add(&page->lru, &to_free);
	} else {
		*xv_hdr(base, off) = mk_hdr(size, prev, true);
		if (off + size < PAGE_SIZE)
			set_prev_field(base, off + size, off);
		if (!isolated)
			list_insert(pool, page, base, off, size);
		xv_unmap_page(base);
	}
	drop_spare_if_idle(pool, &to_free);
	spin_unlock(&pool->lock);
	free_page_list(&to_free);
}

struct page *xv_alloc_raw(struct xv_pool *pool, gfp_t flags, int *err)
{
	struct page *page;

	*err = 0;
	spin_lock(&pool->lock);
	page = pool_get_page(pool, flags, err);
	if (page)
		pool->raw_pages++;
	spin_unlock(&pool->lock);
	return page;
}

void xv_free_raw(struct xv_pool *pool, struct page *page)
{
	LIST_HEAD(to_free);

	spin_lock(&pool->lock);
	pool->raw_pages--;
	list_add(&page->lru, &to_free);
	drop_spare_if_idle(pool, &to_free);
	spin_unlock(&pool->lock);
	free_page_list(&to_free);
}

int xv_add_spare(struct xv_pool *pool, gfp_t flags)
{
	struct page *page;
	int err = 0;

	spin_lock(&pool->lock);
	while (pool->nr_spare < XV_SPARE_PAGES) {
		err = reserve_page(pool);
		if (err)
			break;
		spin_unlock(&pool->lock);
		page = alloc_page(flags);
		spin_lock(&pool->lock);
		pool->reserved--;
		if (!page) {
			err = -ENOMEM;
			break;
		}
		set_page_private(page, 0);
		list_add(&page->lru, &pool->spare);
		pool->nr_spare++;
	}
	spin_unlock(&pool->lock);
	return err;
}

/* ---- pool ------------------------------------------------------------- */

struct xv_pool *xv_create_pool(void)
{
	struct xv_pool *pool;
	int i;

	BUILD_BUG_ON(XV_NR_WORDS > BITS_PER_LONG);
	BUILD_BUG_ON(XV_NR_LISTS % BITS_PER_LONG);
	BUILD_BUG_ON((PAGE_SIZE >> XV_ALIGN_SHIFT) > XV_UNIT_MASK);
	BUILD_BUG_ON(PAGE_SIZE - 1 > 0xffff);
	BUILD_BUG_ON(XV_MAX_ALLOC_SIZE + XV_HDR_SIZE != PAGE_SIZE);

	pool = rz_kvzalloc_obj(pool);
	if (!pool)
		return NULL;
	spin_lock_init(&pool->lock);
	for (i = 0; i < XV_NR_BUCKETS; i++)
		INIT_LIST_HEAD(&pool->buckets[i]);
	INIT_LIST_HEAD(&pool->isolated);
	INIT_LIST_HEAD(&pool->spare);
	return pool;
}

/*
 * The owner frees its objects and raw pages first; object pages still
 * here (a leak) are freed with a warning.
 */
void xv_destroy_pool(struct xv_pool *pool)
{
	int i;

	if (!pool)
		return;
	WARN_ON(pool->nr_objs || pool->raw_pages || pool->obj_pages);
	for (i = 0; i < XV_NR_BUCKETS; i++)
		free_page_list(&pool->buckets[i]);
	free_page_list(&pool->isolated);
	free_page_list(&pool->spare);
	kvfree(pool);
}

void xv_set_limit_pages(struct xv_pool *pool, unsigned long limit)
{
	spin_lock(&pool->lock);
	pool->limit = limit;
	spin_unlock(&pool->lock);
}

u64 xv_get_total_size_bytes(struct xv_pool *pool)
{
	return (u64)(READ_ONCE(pool->obj_pages) + READ_ONCE(pool->raw_pages) +
		     READ_ONCE(pool->nr_spare)) << PAGE_SHIFT;
}

void xv_get_stats(struct xv_pool *pool, struct xv_pool_stats *stats)
{
	spin_lock(&pool->lock);
	stats->obj_pages = pool->obj_pages;
	stats->raw_pages = pool->raw_pages;
	stats->used_bytes = pool->used_bytes;
	stats->nr_objs = pool->nr_objs;
	stats->compact_moved = pool->compact_moved;
	stats->compact_freed = pool->compact_freed;
	stats->spare_pages = pool->nr_spare;
	spin_unlock(&pool->lock);
}

u32 xv_object_capacity(struct page *page, u32 offset)
{
	void *base = xv_map_page(page);
	u32 size = blk_size(*xv_hdr(base, offset - XV_HDR_SIZE));

	xv_unmap_page(base);
	return size - XV_HDR_SIZE;
}

void xv_copy_object(struct page *dst_page, u32 dst_off,
		    struct page *src_page, u32 src_off, u32 len)
{
	u8 *dst = xv_map_page(dst_page);
	u8 *src = xv_map_page(src_page);

	memcpy(dst + dst_off, src + src_off, len);
	xv_unmap_page(src);
	xv_unmap_page(dst);
}

/* ---- compaction ------------------------------------------------------- */

/*
 * Lockless and approximate.  Besides the thresholds, free space must have
 * grown since the last pass, so a pass that could not help is not repeated
 * on every free.
 */
bool xv_compact_wanted(struct xv_pool *pool)
{
	u64 pages = READ_ONCE(pool->obj_pages);
	u64 used = READ_ONCE(pool->used_bytes);
	u64 mark = READ_ONCE(pool->compact_mark);
	u64 total = pages << PAGE_SHIFT;
	u64 min_free = (u64)XV_COMPACT_MIN_FREE << PAGE_SHIFT;

	if (pages < XV_COMPACT_MIN_PAGES || used > total)
		return false;
	if (total - used < mark + min_free)
		return false;
	return used * 100 < total * XV_COMPACT_START_PCT;
}

/* Called locked. */
static bool compact_done(struct xv_pool *pool)
{
	u64 total = (u64)pool->obj_pages << PAGE_SHIFT;

	if (pool->obj_pages < 2)
		return true;
	return (u64)pool->used_bytes * 100 >= total * XV_COMPACT_STOP_PCT;
}

/* Take the free blocks of @page off the free lists (or put them back). */
static void pg_isolate(struct xv_pool *pool, struct page *page, bool isolate)
{
	void *base = xv_map_page(page);
	u32 off = 0;

	while (off < PAGE_SIZE) {
		u32 h = *xv_hdr(base, off);

		if (blk_is_free(h)) {
			if (isolate)
				list_remove(pool, page, base, off, blk_size(h));
			else
				list_insert(pool, page, base, off, blk_size(h));
		}
		off += blk_size(h);
	}
	xv_unmap_page(base);
	if (isolate) {
		pg_set_flags(page, XV_PG_ISOLATED, 0);
		list_move(&page->lru, &pool->isolated);
	} else {
		pg_set_flags(page, 0, XV_PG_ISOLATED);
	}
}

/* Called locked: the emptiest page worth evacuating, or NULL. */
static struct page *pick_source(struct xv_pool *pool)
{
	u64 free_bytes = ((u64)pool->obj_pages << PAGE_SHIFT) -
			 pool->used_bytes;
	struct page *page;
	int b;

	for (b = 0; b < XV_NR_BUCKETS - 1; b++) {
		if (list_empty(&pool->buckets[b]))
			continue;
		page = list_first_entry(&pool->buckets[b], struct page, lru);
		/* its objects must fit into the free space of other pages */
		if (free_bytes - (PAGE_SIZE - pg_used(page)) < pg_used(page))
			return NULL;
		return page;
	}
	return NULL;
}

/*
 * Called locked on an isolated page: can each object of @src go to a free
 * block elsewhere?  (Each on its own; a pass may still run out of room.)
 */
static bool evacuation_possible(struct xv_pool *pool, struct page *src)
{
	void *base = xv_map_page(src);
	bool ok = true;
	u32 off, h;

	for (off = 0; off < PAGE_SIZE && ok; off += blk_size(h)) {
		h = *xv_hdr(base, off);
		if (!blk_is_free(h))
			ok = find_list(pool, DIV_ROUND_UP(blk_size(h),
							  XV_LIST_GRAIN)) >= 0;
	}
	xv_unmap_page(base);
	return ok;
}

/*
 * Move every object out of the isolated page @src.  Returns 0 when done
 * (objects whose owner declined may remain) or -ENOSPC when no other page
 * has room for the next object.
 */
static int evacuate(struct xv_pool *pool, struct page *src,
		    xv_move_fn move, void *ctx)
{
	u32 last = 0;
	bool first = true;

	for (;;) {
		struct page *dst;
		u32 off, h = 0, tag, dst_off;
		void *base;
		int err;

		spin_lock(&pool->lock);
		base = xv_map_page(src);
		for (off = 0; off < PAGE_SIZE; off += blk_size(h)) {
			h = *xv_hdr(base, off);
			if (!blk_is_free(h) && (first || off > last))
				break;
		}
		if (off >= PAGE_SIZE) {
			xv_unmap_page(base);
			spin_unlock(&pool->lock);
			return 0;
		}
		tag = xv_hdr(base, off)[1];
		xv_unmap_page(base);
		spin_unlock(&pool->lock);
		first = false;
		last = off;

		err = __xv_malloc(pool, blk_size(h) - XV_HDR_SIZE, tag, &dst,
				  &dst_off, 0, false);
		if (err)
			return err;
		if (move(ctx, tag, src, off + XV_HDR_SIZE, dst, dst_off)) {
			xv_free(pool, src, off + XV_HDR_SIZE);
			spin_lock(&pool->lock);
			pool->compact_moved++;
			spin_unlock(&pool->lock);
		} else {
			xv_free(pool, dst, dst_off);
		}
	}
}

unsigned long xv_compact(struct xv_pool *pool, xv_move_fn move, void *ctx)
{
	struct page *src, *tmp;
	unsigned long freed = 0;
	int failures = 0;
	bool possible;
	LIST_HEAD(tried);

	while (failures < XV_COMPACT_MAX_FAILS) {
		spin_lock(&pool->lock);
		src = compact_done(pool) ? NULL : pick_source(pool);
		if (!src) {
			spin_unlock(&pool->lock);
			break;
		}
		pg_isolate(pool, src, true);
		possible = evacuation_possible(pool, src);
		spin_unlock(&pool->lock);

		/* a page that cannot be emptied is set aside for this pass */
		if (possible && evacuate(pool, src, move, ctx))
			failures++;

		spin_lock(&pool->lock);
		if (!pg_used(src)) {
			release_page(pool, src);
			pool->compact_freed++;
			spin_unlock(&pool->lock);
			set_page_private(src, 0);
			__free_page(src);
			freed++;
		} else {
			pg_isolate(pool, src, false);
			pg_set_flags(src, XV_PG_TRIED, 0);
			list_move(&src->lru, &tried);
			spin_unlock(&pool->lock);
		}
		cond_resched();
	}

	spin_lock(&pool->lock);
	list_for_each_entry_safe(src, tmp, &tried, lru) {
		pg_set_flags(src, 0, XV_PG_TRIED);
		list_move(&src->lru, &pool->buckets[bucket_of(pg_used(src))]);
	}
	pool->compact_mark = ((u64)pool->obj_pages << PAGE_SHIFT) -
			     pool->used_bytes;
	spin_unlock(&pool->lock);
	return freed;
}

/* ---- self test -------------------------------------------------------- */

#ifdef XV_SELFTEST
static int check_page(struct xv_pool *pool, struct page *page,
		      unsigned long *used, unsigned long *objs,
		      unsigned long *listed_free)
{
	bool isolated = page_private(page) & XV_PG_ISOLATED;
	unsigned long pused = 0;
	bool prev_free = false;
	u32 off = 0, prev = 0, nblocks = 0;
	void *base = xv_map_page(page);
	int ret = 0;

	while (off < PAGE_SIZE && !ret) {
		u32 h = *xv_hdr(base, off);
		u32 size = blk_size(h);

		if (size < XV_MIN_BLOCK || off + size > PAGE_SIZE)
			ret = -1;
		else if (off && blk_prev(h) != prev)
			ret = -2;
		else if (blk_is_free(h) && prev_free)
			ret = -3;
		if (ret)
			break;
		if (blk_is_free(h)) {
			if (!isolated)
				(*listed_free)++;
		} else {
			pused += size;
			(*objs)++;
		}
		prev_free = blk_is_free(h);
		prev = off;
		off += size;
		nblocks++;
	}
	xv_unmap_page(base);
	if (ret)
		return ret;
	if (off != PAGE_SIZE)
		return -4;
	if (pused != pg_used(page))
		return -5;
	if (!pused && !isolated)
		return -6;	/* an empty page should have been released */
	*used += pused;
	return 0;
}

static int check_lists(struct xv_pool *pool, unsigned long free_blocks,
		       unsigned long *listed)
{
	u32 idx;

	for (idx = 0; idx < XV_NR_LISTS; idx++) {
		struct xv_flink cur = pool->freelist[idx];
		struct page *pprev = NULL;
		u16 oprev = 0;
		bool bit = test_bit(idx % BITS_PER_LONG,
				    &pool->slbitmap[idx / BITS_PER_LONG]);

		if (bit != !!cur.page)
			return -11;
		while (cur.page) {
			void *base = xv_map_page(cur.page);
			u32 h = *xv_hdr(base, cur.offset);
			struct xv_flink back, next;

			get_link(base, cur.offset, LINK_PREV, &back);
			get_link(base, cur.offset, LINK_NEXT, &next);
			xv_unmap_page(base);
			if (!blk_is_free(h) || blk_size(h) >> XV_LIST_SHIFT != idx)
				return -12;
			if (page_private(cur.page) & XV_PG_ISOLATED)
				return -13;
			if (back.page != pprev || (pprev && back.offset != oprev))
				return -14;
			if (++(*listed) > free_blocks)
				return -15;	/* a stray entry or a cycle */
			pprev = cur.page;
			oprev = cur.offset;
			cur = next;
		}
	}
	for (idx = 0; idx < XV_NR_WORDS; idx++)
		if (!!pool->slbitmap[idx] != !!test_bit(idx, &pool->flbitmap))
			return -16;
	return 0;
}

/* Size of the largest free block on the free lists up to @max (0: none). */
unsigned long xv_largest_free_block(struct xv_pool *pool, unsigned long max)
{
	unsigned long best = 0;
	int idx;

	spin_lock(&pool->lock);
	for (idx = XV_NR_LISTS - 1; idx >= 0; idx--) {
		struct xv_flink cur = pool->freelist[idx];

		while (cur.page) {
			void *base = xv_map_page(cur.page);
			u32 size = blk_size(*xv_hdr(base, cur.offset));
			struct xv_flink next;

			get_link(base, cur.offset, LINK_NEXT, &next);
			xv_unmap_page(base);
			if (size > best && size <= max)
				best = size;
			cur = next;
		}
	}
	spin_unlock(&pool->lock);
	return best;
}

int xv_check_pool(struct xv_pool *pool)
{
	unsigned long used = 0, objs = 0, pages = 0, free_blocks = 0;
	unsigned long listed = 0;
	struct page *page;
	u32 b;
	int ret = 0;

	spin_lock(&pool->lock);
	for (b = 0; b < XV_NR_BUCKETS && !ret; b++) {
		list_for_each_entry(page, &pool->buckets[b], lru) {
			if (pg_parked(page) || bucket_of(pg_used(page)) != b) {
				ret = -20;
				break;
			}
			ret = check_page(pool, page, &used, &objs, &free_blocks);
			if (ret)
				break;
			pages++;
		}
	}
	if (!ret) {
		list_for_each_entry(page, &pool->isolated, lru) {
			ret = check_page(pool, page, &used, &objs, &free_blocks);
			if (ret)
				break;
			pages++;
		}
	}
	if (!ret && (pages != pool->obj_pages || used != pool->used_bytes ||
		     objs != pool->nr_objs))
		ret = -21;
	if (!ret) {
		unsigned long spare = 0;

		list_for_each_entry(page, &pool->spare, lru)
			spare++;
		if (spare != pool->nr_spare || spare > XV_SPARE_PAGES)
			ret = -23;
	}
	if (!ret)
		ret = check_lists(pool, free_blocks, &listed);
	if (!ret && listed != free_blocks)
		ret = -22;
	spin_unlock(&pool->lock);
	return ret;
}
#endif /* XV_SELFTEST */
