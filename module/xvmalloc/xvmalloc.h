/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xvmalloc: a memory allocator for small objects of variable size kept in
 * pages that are mapped only while in use (so highmem works), for the
 * compressed store of ramzswap.
 *
 * Objects never span pages; an object is addressed by (page, offset).
 * Allocation and free are O(1): free blocks sit on segregated free lists
 * indexed by size through a two-level bitmap.  Objects carry a caller tag
 * so that a compaction pass can ask the owner to move them; compaction is
 * what keeps the memory efficiency high after churn.
 */
#ifndef _XVMALLOC_H_
#define _XVMALLOC_H_

#include <linux/types.h>
#include <linux/gfp.h>

struct page;
struct xv_pool;

/* Largest object xv_malloc() accepts (payload bytes). */
#define XV_MAX_ALLOC_SIZE	(PAGE_SIZE - 8)

struct xv_pool_stats {
	unsigned long obj_pages;	/* pages holding objects */
	unsigned long raw_pages;	/* whole pages from xv_alloc_raw() */
	unsigned long used_bytes;	/* bytes of allocated blocks */
	unsigned long nr_objs;		/* live objects */
	unsigned long compact_moved;	/* objects moved by compaction */
	unsigned long compact_freed;	/* pages released by compaction */
	unsigned long spare_pages;	/* empty pages from xv_add_spare() */
};

/*
 * Move callback for xv_compact().  The owner of @tag checks under its own
 * lock that its object still lives at (@src_page, @src_off), copies it to
 * (@dst_page, @dst_off) with xv_copy_object(), points its reference at the
 * new place and returns true.  It returns false if the object is gone.
 */
typedef bool (*xv_move_fn)(void *ctx, u32 tag,
			   struct page *src_page, u32 src_off,
			   struct page *dst_page, u32 dst_off);

struct xv_pool *xv_create_pool(void);
void xv_destroy_pool(struct xv_pool *pool);

/* Cap on obj_pages + raw_pages + spare_pages; 0 means no cap. */
void xv_set_limit_pages(struct xv_pool *pool, unsigned long limit);

/*
 * Returns 0 and the object's place, or -EINVAL (bad size), -ENOSPC (the
 * page cap would be passed) or -ENOMEM (no page could be allocated).
 * @flags are used to allocate a new page; the pool lock is not held then.
 */
int xv_malloc(struct xv_pool *pool, u32 size, u32 tag,
	      struct page **page, u32 *offset, gfp_t flags);
/*
 * Without adding a page: the largest object of @min to @max bytes that an
 * existing free block holds, i.e. @max from the smallest free block that
 * holds it if there is one, else as much as the largest smaller block
 * holds.  *size is its usable size.  0, -EINVAL or -ENOSPC (no such free
 * block).  With @min == @max: that size if any free block holds it.
 */
int xv_malloc_part(struct xv_pool *pool, u32 min, u32 max, u32 tag,
		   struct page **page, u32 *offset, u32 *size);
void xv_free(struct xv_pool *pool, struct page *page, u32 offset);

/*
 * Put up to XV_SPARE_PAGES empty pages aside, allocated with @flags (which
 * may sleep), for later allocations that cannot.  0 when the spares are
 * there, else -ENOSPC (cap) or -ENOMEM.
 */
int xv_add_spare(struct xv_pool *pool, gfp_t flags);

/* A whole page, counted against the same cap as object pages. */
struct page *xv_alloc_raw(struct xv_pool *pool, gfp_t flags, int *err);
void xv_free_raw(struct xv_pool *pool, struct page *page);

/* Bytes of memory the pool holds: all its pages * PAGE_SIZE. */
u64 xv_get_total_size_bytes(struct xv_pool *pool);
void xv_get_stats(struct xv_pool *pool, struct xv_pool_stats *stats);

/* Payload capacity of the object at (@page, @offset). */
u32 xv_object_capacity(struct page *page, u32 offset);
void xv_copy_object(struct page *dst_page, u32 dst_off,
		    struct page *src_page, u32 src_off, u32 len);

/* True when enough of the pool is free space to make compaction pay. */
bool xv_compact_wanted(struct xv_pool *pool);
/* Moves objects out of the emptiest pages; returns pages released. */
unsigned long xv_compact(struct xv_pool *pool, xv_move_fn move, void *ctx);

#ifdef XV_SELFTEST
/* Full consistency check of the pool; 0 or a negative code for the fault. */
int xv_check_pool(struct xv_pool *pool);
unsigned long xv_largest_free_block(struct xv_pool *pool, unsigned long max);
#endif

#endif /* _XVMALLOC_H_ */
