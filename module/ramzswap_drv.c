// SPDX-License-Identifier: GPL-2.0-only
/*
 * ramzswap: a block device for swap that keeps pages compressed in RAM.
 *
 * Pages written to /dev/ramzswapN are compressed with the device's algorithm
 * and kept in an xvmalloc pool.  A page of one repeated machine word keeps
 * only the word.
 * With a backing device, pages that compress badly, and pages that RAM may
 * not take (memlimit reached, no memory), are written to the same slot of
 * the backing device instead, and on request the pages that stayed idle in
 * RAM (ramzswap_writeback.c).  Swap tells the device which slots it no
 * longer needs (slot-free notification and discard) and their memory goes
 * back to the pool; a worker compacts the pool when it gets sparse.
 *
 * Settings and statistics are in /sys/block/ramzswapN/ (ramzswap_sysfs.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

#include "ramzswap_drv.h"

static unsigned int num_devices = 1;
module_param(num_devices, uint, 0444);
MODULE_PARM_DESC(num_devices, "Number of ramzswap devices (1-32)");

static unsigned long disksize_kb;
module_param(disksize_kb, ulong, 0444);
MODULE_PARM_DESC(disksize_kb, "Initialise ramzswap0 with this size in KiB");

static unsigned long memlimit_kb;
module_param(memlimit_kb, ulong, 0444);
MODULE_PARM_DESC(memlimit_kb, "Initialise ramzswap0 with this memory limit in KiB");

static char *backing_swap;
module_param(backing_swap, charp, 0444);
MODULE_PARM_DESC(backing_swap, "Initialise ramzswap0 with this backing block device");

static char *comp_algorithm;
module_param(comp_algorithm, charp, 0444);
MODULE_PARM_DESC(comp_algorithm, "Initialise ramzswap0 compressing with this algorithm (lz4)");

static int comp_level;
module_param(comp_level, int, 0444);
MODULE_PARM_DESC(comp_level, "Initialise ramzswap0 with this compression level (0: the algorithm's default)");

static int rz_major;

/* Is @devt one of this module's disks? */
bool rz_devt_is_ours(dev_t devt)
{
	return rz_major > 0 && MAJOR(devt) == rz_major;
}

static struct rz_dev *rz_devices;
static unsigned int rz_nr_devices;
struct workqueue_struct *rz_wq;

/* ---- slots -------------------------------------------------------------- */

/* Put @new in slot @index; what it held goes to @old.  Lock not held. */
static void rz_slot_swap(struct rz_dev *dev, unsigned long index,
			 const struct rz_slot *new, struct rz_slot *old)
{
	struct rz_slot *s = &dev->table[index];

	rz_slot_lock(s);
	old->flags = s->flags & ~BIT(RZ_LOCK_BIT);
	old->data = s->data;
	s->data = new->data;
	s->flags = new->flags | BIT(RZ_LOCK_BIT);
	rz_slot_unlock(s);
}

static void rz_update_max(struct rz_dev *dev)
{
	s64 used = xv_get_total_size_bytes(dev->pool);
	s64 max = atomic64_read(&dev->stats.mem_used_max);

	while (used > max) {
		s64 seen = atomic64_cmpxchg(&dev->stats.mem_used_max, max, used);

		if (seen == max)
			break;
		max = seen;
	}
}

/* Count what a slot entry holds into (@sign 1) or out of (-1) the gauges. */
static void rz_account(struct rz_dev *dev, const struct rz_slot *e, int sign)
{
	struct rz_stats *st = &dev->stats;
	u32 len = rz_slot_len(e);

	switch (rz_slot_state(e)) {
	case RZ_SAME:
		atomic64_add(sign, &st->same_pages);
		break;
	case RZ_HUGE:
		atomic64_add(sign, &st->pages_expand);
		atomic64_add(sign * (s64)PAGE_SIZE, &st->compr_data_size);
		break;
	case RZ_COMP:
	case RZ_SPLIT:
		if (len <= PAGE_SIZE / 2)
			atomic64_add(sign, &st->good_compress);
		atomic64_add(sign * (s64)len, &st->compr_data_size);
		break;
	default:
		return;		/* empty or on the backing device */
	}
	atomic64_add(sign, &st->pages_stored);
}

/* Copy @len bytes from @src into the object at (@page, @off). */
static void rz_obj_write(struct page *page, u32 off, const void *src, u32 len)
{
	u8 *p = rz_kmap_local(page);

	memcpy(p + off, src, len);
	rz_kunmap_local(p);
}

/* Copy @len bytes of the object at (@page, @off) to @dst. */
static void rz_obj_read(struct page *page, u32 off, void *dst, u32 len)
{
	u8 *p = rz_kmap_local(page);

	memcpy(dst, p + off, len);
	rz_kunmap_local(p);
}

/* The link at the start of the first object of a split page. */
static void rz_get_link(struct page *page, u32 off, struct rz_link *link)
{
	rz_obj_read(page, off, link, RZ_LINK_SIZE);
}

/* Give back the storage of an entry taken out of its slot. */
void rz_release(struct rz_dev *dev, const struct rz_slot *e)
{
	bool live;

	rz_account(dev, e, -1);
	switch (rz_slot_state(e)) {
	case RZ_HUGE:
		xv_free_raw(dev->pool, (struct page *)e->data);
		break;
	case RZ_SPLIT:
	case RZ_COMP:
		if (rz_slot_state(e) == RZ_SPLIT) {
			struct rz_link link;

			rz_get_link((struct page *)e->data, rz_slot_off(e),
				    &link);
			xv_free(dev->pool, link.page, link.off);
		}
		xv_free(dev->pool, (struct page *)e->data, rz_slot_off(e));
		/* no compaction once reset has begun (its release store) */
		live = smp_load_acquire(&dev->init_done);
		if (live && xv_compact_wanted(dev->pool))
			queue_work(rz_wq, &dev->compact_work);
		break;
	default:
		break;
	}
}

/* Empty slot @index; true if it held anything. */
static bool rz_free_slot(struct rz_dev *dev, unsigned long index)
{
	struct rz_slot empty = { 0 }, old;

	rz_slot_swap(dev, index, &empty, &old);
	rz_release(dev, &old);
	if (dev->bdev_bad) {
		/* freed by swap: the slot may try the backing device again */
		clear_bit(index, dev->bdev_bad);
		if (rz_slot_state(&old) == RZ_BDEV)
			rz_backing_forget(dev, index);
	}
	return rz_slot_state(&old) != RZ_EMPTY;
}

/* Compaction asks to move an object; it still is slot @tag's if it matches. */
static bool rz_move(void *ctx, u32 tag, struct page *src_page, u32 src_off,
		    struct page *dst_page, u32 dst_off)
{
	struct rz_dev *dev = ctx;
	struct rz_link link;
	enum rz_state state;
	struct rz_slot *s;
	bool moved = false;
	u32 len;

	if (tag >= dev->nr_slots)
		return false;
	s = &dev->table[tag];
	rz_slot_lock(s);
	state = rz_slot_state(s);
	if (state != RZ_COMP && state != RZ_SPLIT)
		goto out;
	len = rz_slot_len(s);
	if (s->data == (unsigned long)src_page && rz_slot_off(s) == src_off) {
		/* the object the slot points to (with its link if split) */
		if (state == RZ_SPLIT) {
			rz_get_link(src_page, src_off, &link);
			len = RZ_LINK_SIZE + len - link.len;
		}
		xv_copy_object(dst_page, dst_off, src_page, src_off, len);
		s->data = (unsigned long)dst_page;
		s->flags = rz_slot_flags(state, dst_off, rz_slot_len(s)) |
			   (s->flags & RZ_MARK_BITS) | BIT(RZ_LOCK_BIT);
		moved = true;
	} else if (state == RZ_SPLIT) {
		/* perhaps the second object: the link says */
		struct page *first = (struct page *)s->data;

		rz_get_link(first, rz_slot_off(s), &link);
		if (link.page == src_page && link.off == src_off) {
			xv_copy_object(dst_page, dst_off, src_page, src_off,
				       link.len);
			link.page = dst_page;
			link.off = dst_off;
			rz_obj_write(first, rz_slot_off(s), &link,
				     RZ_LINK_SIZE);
			moved = true;
		}
	}
out:
	rz_slot_unlock(s);
	return moved;
}

static void rz_compact_work(struct work_struct *work)
{
	struct rz_dev *dev = container_of(work, struct rz_dev, compact_work);

	xv_compact(dev->pool, rz_move, dev);
}

/* ---- moving a page between a bio and a buffer ---------------------------- */

/* One page-sized block of a bio, at @iter. */
struct rz_blk {
	struct bio *bio;
	struct bvec_iter iter;
	struct bio_vec bv;	/* its first segment */
	bool whole;		/* that segment is a whole page */
};

static void rz_blk_copy(struct rz_blk *b, void *buf, bool to_bio)
{
	struct bvec_iter it = b->iter;
	unsigned int done = 0;

	while (done < PAGE_SIZE) {
		struct bio_vec bv = bio_iter_iovec(b->bio, it);
		unsigned int n = min_t(unsigned int, bv.bv_len, PAGE_SIZE - done);
		u8 *p = rz_kmap_local(bv.bv_page);

		if (to_bio)
			memcpy(p + bv.bv_offset, buf + done, n);
		else
			memcpy(buf + done, p + bv.bv_offset, n);
		rz_kunmap_local(p);
		/* the CPU wrote the page: user mappings must see it */
		if (to_bio)
			flush_dcache_page(bv.bv_page);
		bio_advance_iter(b->bio, &it, n);
		done += n;
	}
}

static bool rz_same_filled(const void *page, unsigned long *word)
{
	const unsigned long *w = page;
	unsigned long v = w[0];
	size_t i;

	for (i = 1; i < PAGE_SIZE / sizeof(*w); i++)
		if (w[i] != v)
			return false;
	*word = v;
	return true;
}

/* ---- write ---------------------------------------------------------------- */

/*
 * Finish a split store: the first part, @len bytes after the link, is in
 * (@page, @off); put the rest in an object of its own.
 */
static int rz_store_split(struct rz_dev *dev, unsigned long index,
			  const u8 *cbuf, unsigned int clen, struct page *page,
			  u32 off, u32 len, struct rz_slot *e)
{
	struct rz_link link = { .len = clen - len };
	u32 off2;
	int err;

	err = xv_malloc(dev->pool, link.len, index, &link.page, &off2,
			RZ_GFP_FAST);
	if (err) {
		xv_free(dev->pool, page, off);
		return err;
	}
	link.off = off2;
	rz_obj_write(link.page, link.off, cbuf + len, link.len);
	rz_obj_write(page, off, &link, RZ_LINK_SIZE);
	rz_obj_write(page, off + RZ_LINK_SIZE, cbuf, len);
	e->flags = rz_slot_flags(RZ_SPLIT, off, clen);
	e->data = (unsigned long)page;
	return 0;
}

/*
 * Store one page as entry @e for slot @index, without sleeping: @src is the
 * page, @cbuf its compressed form of @clen bytes (0: store it whole).
 * Returns 0 or the pool's error.
 */
static int rz_store(struct rz_dev *dev, unsigned long index, const void *src,
		    const u8 *cbuf, unsigned int clen, struct rz_slot *e)
{
	struct page *page;
	u32 off, len;
	int err = 0;

	if (!clen) {
		page = xv_alloc_raw(dev->pool, RZ_GFP_FAST, &err);
		if (!page)
			return err;
		rz_obj_write(page, 0, src, PAGE_SIZE);
		e->flags = rz_slot_flags(RZ_HUGE, 0, PAGE_SIZE);
		e->data = (unsigned long)page;
		return 0;
	}
	if (clen > RZ_SPLIT_LEN) {
		/* whole if a free block takes it, else fill the largest one */
		if (!xv_malloc_part(dev->pool, clen, clen, index, &page, &off,
				    &len))
			goto whole;
		if (!xv_malloc_part(dev->pool, RZ_LINK_SIZE + RZ_SPLIT_HEAD,
				    RZ_LINK_SIZE + clen - RZ_SPLIT_TAIL, index,
				    &page, &off, &len))
			return rz_store_split(dev, index, cbuf, clen, page, off,
					      len - RZ_LINK_SIZE, e);
	}
	err = xv_malloc(dev->pool, clen, index, &page, &off, RZ_GFP_FAST);
	if (err)
		return err;
whole:
	rz_obj_write(page, off, cbuf, clen);
	e->flags = rz_slot_flags(RZ_COMP, off, clen);
	e->data = (unsigned long)page;
	return 0;
}

/*
 * Compress the page at @b into a new entry for slot @index, or decide to
 * forward it.  -ENOMEM means no page could be had without sleeping.
 */
static int rz_compress_page(struct rz_dev *dev, struct rz_blk *b,
			    unsigned long index, struct rz_slot *e,
			    bool *forward)
{
	struct rz_stream *s = rz_stream_get();
	unsigned long word;
	unsigned int clen;
	u8 *map = NULL;
	const u8 *src;
	int err = 0;

	if (b->whole) {
		map = rz_kmap_local(b->bv.bv_page);
		src = map + b->bv.bv_offset;
	} else {
		rz_blk_copy(b, s->bounce, false);
		src = s->bounce;
	}

	*forward = false;
	if (rz_same_filled(src, &word)) {
		e->flags = rz_slot_flags(RZ_SAME, 0, 0);
		e->data = word;
	} else {
		clen = rz_compress(dev->comp, s, src, RZ_MAX_ZPAGE);
		if (dev->bdev && (!clen || clen > RZ_MAX_ZPAGE_BDEV) &&
		    rz_backing_may_write(dev, index, false))
			*forward = true;
		else
			err = rz_store(dev, index, src, s->cbuf, clen, e);
	}
	if (map)
		rz_kunmap_local(map);
	rz_stream_put();
	return err;
}

static int rz_write_page(struct rz_dev *dev, struct rz_blk *b,
			 unsigned long index)
{
	struct rz_slot new = { 0 }, old;
	bool forward;
	int err;

	err = rz_compress_page(dev, b, index, &new, &forward);
	if (err == -ENOMEM && !xv_add_spare(dev->pool, RZ_GFP_SLOW)) {
		/* pages put aside while allowed to sleep: once more */
		err = rz_compress_page(dev, b, index, &new, &forward);
	}
	/* RAM cannot take it (memlimit, no memory): the backing device may */
	if (err && rz_backing_may_write(dev, index, true)) {
		err = 0;
		forward = true;
	}
	if (err) {
		/* nowhere to put it: fail, leave the slot as it was */
		if (xv_compact_wanted(dev->pool))
			queue_work(rz_wq, &dev->compact_work);
		return err;
	}
	if (forward) {
		rz_backing_submit(dev, b->bio, &b->iter, index, true);
		new.flags = rz_slot_flags(RZ_BDEV, 0, 0);
		new.data = 0;
	}

	rz_account(dev, &new, 1);
	rz_slot_swap(dev, index, &new, &old);
	rz_release(dev, &old);
	/* its copy on the backing device was not overwritten there */
	if (rz_slot_state(&old) == RZ_BDEV && !forward)
		rz_backing_forget(dev, index);
	rz_update_max(dev);
	return 0;
}

/* ---- read ------------------------------------------------------------------ */

/* Decompress the entry in @slot (locked) into @dst; 0 or -EIO. */
int rz_load(struct rz_dev *dev, struct rz_stream *s, struct rz_slot *slot,
	    u8 *dst)
{
	u32 len = rz_slot_len(slot), off = rz_slot_off(slot);
	u8 *obj = rz_kmap_local((struct page *)slot->data);
	struct rz_link link;
	int err = 0;

	switch (rz_slot_state(slot)) {
	case RZ_HUGE:
		memcpy(dst, obj, PAGE_SIZE);
		break;
	case RZ_COMP:
		err = rz_decompress(dev->comp, obj + off, len, dst);
		break;
	default:	/* RZ_SPLIT: gather both halves first */
		memcpy(&link, obj + off, RZ_LINK_SIZE);
		if (!link.len || link.len >= len) {
			err = -EIO;
			break;
		}
		memcpy(s->cbuf, obj + off + RZ_LINK_SIZE, len - link.len);
		rz_obj_read(link.page, link.off, s->cbuf + len - link.len,
			    link.len);
		err = rz_decompress(dev->comp, s->cbuf, len, dst);
		break;
	}
	rz_kunmap_local(obj);
	return err;
}

static int rz_read_page(struct rz_dev *dev, struct rz_blk *b,
			unsigned long index)
{
	struct rz_slot *slot = &dev->table[index];
	struct rz_stream *s = rz_stream_get();
	enum rz_state state;
	u8 *map = NULL, *dst;
	int err = 0;

	if (b->whole) {
		map = rz_kmap_local(b->bv.bv_page);
		dst = map + b->bv.bv_offset;
	} else {
		dst = s->bounce;
	}

	rz_slot_lock(slot);
	/* a page read is not idle (the lock bit is ours: no atomic needed) */
	slot->flags &= ~BIT(RZ_IDLE_BIT);
	state = rz_slot_state(slot);
	switch (state) {
	case RZ_EMPTY:
		memset(dst, 0, PAGE_SIZE);
		break;
	case RZ_SAME:
		memset_l((unsigned long *)dst, slot->data,
			 PAGE_SIZE / sizeof(unsigned long));
		break;
	case RZ_BDEV:
		break;
	default:
		err = rz_load(dev, s, slot, dst);
		break;
	}
	rz_slot_unlock(slot);

	if (!b->whole && state != RZ_BDEV && !err)
		rz_blk_copy(b, s->bounce, true);
	if (map)
		rz_kunmap_local(map);
	rz_stream_put();
	/*
	 * Written through a kernel mapping: on CPUs whose data cache can alias
	 * or that keep instruction caches apart, user mappings of the page see
	 * the data only after this (rz_blk_copy() does it for partial pages).
	 */
	if (map && state != RZ_BDEV && !err)
		flush_dcache_page(b->bv.bv_page);

	if (state == RZ_BDEV) {
		if (!b->bio)
			err = -EOPNOTSUPP;	/* a page without a bio */
		else if (test_bit(index, dev->bdev_bad) || rz_backing_gone(dev))
			err = -EIO;	/* its write failed, or its disk is gone */
		else
			rz_backing_submit(dev, b->bio, &b->iter, index, false);
	}
	return err;
}

/* ---- requests -------------------------------------------------------------- */

static bool rz_valid_io(struct rz_dev *dev, struct bio *bio)
{
	sector_t start = bio->bi_iter.bi_sector;
	unsigned int size = bio->bi_iter.bi_size;

	/* pairs with rz_dev_init(): table, pool and size are set up */
	if (!smp_load_acquire(&dev->init_done))
		return false;
	if (start & (RZ_SECTORS_PER_PAGE - 1) || size & (PAGE_SIZE - 1))
		return false;
	if (start >> RZ_PAGE_SECTOR_SHIFT >= dev->nr_slots)
		return false;
	return (start >> RZ_PAGE_SECTOR_SHIFT) + (size >> PAGE_SHIFT) <=
	       dev->nr_slots;
}

static void rz_discard(struct rz_dev *dev, struct bio *bio)
{
	unsigned long index = bio->bi_iter.bi_sector >> RZ_PAGE_SECTOR_SHIFT;
	unsigned long n = bio->bi_iter.bi_size >> PAGE_SHIFT;

	while (n--) {
		if (rz_free_slot(dev, index++))
			atomic64_inc(&dev->stats.notify_free);
		cond_resched();
	}
}

static void rz_rw(struct rz_dev *dev, struct bio *bio, bool write)
{
	struct bvec_iter iter = bio->bi_iter;
	struct rz_blk b = { .bio = bio };

	while (iter.bi_size) {
		unsigned long index = iter.bi_sector >> RZ_PAGE_SECTOR_SHIFT;
		int err;

		b.iter = iter;
		b.bv = bio_iter_iovec(bio, iter);
		b.whole = b.bv.bv_offset == 0 && b.bv.bv_len == PAGE_SIZE;
		if (write) {
			atomic64_inc(&dev->stats.num_writes);
			err = rz_write_page(dev, &b, index);
		} else {
			atomic64_inc(&dev->stats.num_reads);
			err = rz_read_page(dev, &b, index);
		}
		if (err) {
			atomic64_inc(write ? &dev->stats.failed_writes :
				     &dev->stats.failed_reads);
			bio->bi_status = BLK_STS_IOERR;
			break;
		}
		bio_advance_iter(bio, &iter, PAGE_SIZE);
	}
}

static void rz_submit_bio(struct bio *bio)
{
	struct rz_dev *dev = rz_bio_disk(bio)->private_data;
	unsigned long start;

	switch (bio_op(bio)) {
	case REQ_OP_FLUSH:
		break;
	case REQ_OP_READ:
	case REQ_OP_WRITE:
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		if (!rz_valid_io(dev, bio)) {
			atomic64_inc(&dev->stats.invalid_io);
			bio->bi_status = BLK_STS_IOERR;
			break;
		}
		/* pages forwarded to the backing device are its to account */
		start = bio_start_io_acct(bio);
		if (op_is_discard(bio_op(bio)) ||
		    bio_op(bio) == REQ_OP_WRITE_ZEROES)
			rz_discard(dev, bio);	/* empty slots read as zeros */
		else
			rz_rw(dev, bio, op_is_write(bio_op(bio)));
		bio_end_io_acct(bio, start);
		break;
	default:
		bio->bi_status = BLK_STS_NOTSUPP;
		break;
	}
	bio_endio(bio);
}

#ifdef RZ_HAVE_RW_PAGE
/*
 * One whole page, synchronously, without a bio.  On kernels that have
 * ->rw_page() (before 6.3) its presence is what makes swap treat the device
 * as synchronous: a page read back then skips the swap cache and its slot is
 * freed at once, so the store does not keep copies of pages that are back in
 * RAM.  Only what needs no bio is done here.  Anything else (the backing
 * device, an invalid request, a failure) returns an error before it is
 * counted, and the kernel sends the same page again as a bio, which
 * rz_submit_bio() carries out and counts.
 */
static int rz_rw_page(struct block_device *bdev, sector_t sector,
		      struct page *page, bool write)
{
	struct rz_dev *dev = bdev->bd_disk->private_data;
	unsigned long index = sector >> RZ_PAGE_SECTOR_SHIFT;
	struct rz_blk b = {
		.bv = { .bv_page = page, .bv_len = PAGE_SIZE },
		.whole = true,
	};
	unsigned long start;
	int err;

	if (PageTransHuge(page))
		return -EOPNOTSUPP;
	/* pairs with rz_dev_init(): table, pool and size are set up */
	if (!smp_load_acquire(&dev->init_done) ||
	    sector & (RZ_SECTORS_PER_PAGE - 1) || index >= dev->nr_slots)
		return -EINVAL;
	/* its page may have to go to the backing device: a bio's job */
	if (write && dev->bdev)
		return -EOPNOTSUPP;
	start = rz_page_io_start(bdev, write);
	if (write)
		err = rz_write_page(dev, &b, index);
	else
		err = rz_read_page(dev, &b, index);
	rz_page_io_end(bdev, write, start);
	if (err)
		return err;
	atomic64_inc(write ? &dev->stats.num_writes : &dev->stats.num_reads);
	page_endio(page, write, 0);
	return 0;
}
#endif

#ifdef RZ_HAVE_SLOT_FREE_NOTIFY
/* Swap no longer needs slot @index.  May be called in atomic context. */
static void rz_slot_free_notify(struct block_device *bdev,
				unsigned long index)
{
	struct rz_dev *dev = bdev->bd_disk->private_data;

	/* pairs with rz_dev_init(): table, pool and size are set up */
	if (!smp_load_acquire(&dev->init_done) || index >= dev->nr_slots)
		return;
	if (rz_free_slot(dev, index))
		atomic64_inc(&dev->stats.notify_free);
}
#endif

/* Called under the disk's open mutex: no dev->lock here (struct rz_dev). */
static int rz_disk_open(struct gendisk *disk)
{
	struct rz_dev *dev = disk->private_data;
	int err = 0;

	spin_lock(&dev->open_lock);
	if (dev->claimed)
		err = -EBUSY;
	else
		dev->openers++;
	spin_unlock(&dev->open_lock);
	return err;
}

static void rz_disk_release(struct gendisk *disk)
{
	struct rz_dev *dev = disk->private_data;

	spin_lock(&dev->open_lock);
	dev->openers--;
	spin_unlock(&dev->open_lock);
}

/* Keep @dev from being opened, unless it is open; false if it is. */
static bool rz_claim(struct rz_dev *dev)
{
	bool ok;

	spin_lock(&dev->open_lock);
	ok = !dev->openers;
	if (ok)
		dev->claimed = true;
	spin_unlock(&dev->open_lock);
	return ok;
}

static void rz_unclaim(struct rz_dev *dev)
{
	spin_lock(&dev->open_lock);
	dev->claimed = false;
	spin_unlock(&dev->open_lock);
}

/*
 * The callbacks above, to each kernel's block_device_operations signature:
 *   5.16  ->submit_bio() returns void (blk_qc_t before)
 *   5.19  ->rw_page() takes an enum req_op (RZ_RW_PAGE_ENUM_OP)
 *   6.5   ->open(disk, blk_mode_t), ->release(disk)
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 16, 0)
#define rz_fops_submit_bio	rz_submit_bio
#else
static blk_qc_t rz_fops_submit_bio(struct bio *bio)
{
	rz_submit_bio(bio);
	return BLK_QC_T_NONE;
}
#endif

#ifdef RZ_HAVE_RW_PAGE
#ifdef RZ_RW_PAGE_ENUM_OP
static int rz_fops_rw_page(struct block_device *bdev, sector_t sector,
			   struct page *page, enum req_op op)
#else
static int rz_fops_rw_page(struct block_device *bdev, sector_t sector,
			   struct page *page, unsigned int op)
#endif
{
	return rz_rw_page(bdev, sector, page, op_is_write(op));
}
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
static int rz_fops_open(struct gendisk *disk, blk_mode_t mode)
{
	return rz_disk_open(disk);
}

#define rz_fops_release		rz_disk_release
#else
static int rz_fops_open(struct block_device *bdev, fmode_t mode)
{
	return rz_disk_open(bdev->bd_disk);
}

static void rz_fops_release(struct gendisk *disk, fmode_t mode)
{
	rz_disk_release(disk);
}
#endif

const struct block_device_operations rz_fops = {
	.owner			= THIS_MODULE,
	.submit_bio		= rz_fops_submit_bio,
	.open			= rz_fops_open,
	.release		= rz_fops_release,
#ifdef RZ_HAVE_RW_PAGE
	.rw_page		= rz_fops_rw_page,
#endif
#ifdef RZ_HAVE_SLOT_FREE_NOTIFY
	.swap_slot_free_notify	= rz_slot_free_notify,
#endif
};

/* ---- init and reset ---------------------------------------------------------- */

/* The slot table may take at most a quarter of RAM. */
u64 rz_max_disksize(void)
{
	u64 slots = ((u64)totalram_pages() << PAGE_SHIFT) / 4 /
		    sizeof(struct rz_slot);

	slots = min_t(u64, slots, U32_MAX);
	return slots << PAGE_SHIFT;
}

void rz_comp_defaults(struct rz_dev *dev)
{
	strscpy(dev->comp_name, RZ_COMP_DEFAULT, sizeof(dev->comp_name));
	dev->comp_level = 0;
}

/*
 * Set the algorithm (NULL: keep it) and level @dev will compress with once
 * initialised.  Called with dev->lock held, before init.
 */
int rz_set_comp(struct rz_dev *dev, const char *name, int level)
{
	const struct rz_backend *be;

	be = rz_backend_find(name ? name : dev->comp_name);
	if (!be || rz_level_check(be, level))
		return -EINVAL;
	strscpy(dev->comp_name, be->name, sizeof(dev->comp_name));
	dev->comp_level = level;
	return 0;
}

/*
 * Initialise @dev with @disksize bytes, using the memlimit and backing
 * device already set.  Called with dev->lock held; changes nothing on error.
 */
int rz_dev_init(struct rz_dev *dev, u64 disksize)
{
	u64 ram = (u64)totalram_pages() << PAGE_SHIFT;
	unsigned long nr, *bad = NULL;
	struct rz_slot *table;
	struct xv_pool *pool;
	struct rz_comp *comp;
	int err;

	disksize = round_down(disksize, PAGE_SIZE);
	if (!disksize || disksize > rz_max_disksize())
		return -EINVAL;
	if (dev->memlimit > disksize)
		return -EINVAL;
	if (dev->bdev &&
	    rz_bdev_nr_sectors(dev->bdev) < disksize >> SECTOR_SHIFT)
		return -EINVAL;
	/*
	 * A page forwarded to the backing device is written inside the write
	 * request; swap waits for the requests of a synchronous disk, so with
	 * a backing device the disk is not one.  The backing device can only
	 * be set before init and swapon reads the flag once, so it is decided
	 * here.
	 */
	comp = rz_comp_create(dev->comp_name, dev->comp_level);
	if (IS_ERR(comp))
		return PTR_ERR(comp);
	err = rz_set_synchronous(dev->disk, !dev->bdev);
	if (err) {
		rz_comp_destroy(comp);
		return err;
	}

	nr = disksize >> PAGE_SHIFT;
	table = vzalloc(array_size(nr, sizeof(*table)));
	pool = xv_create_pool();
	/* five bits per slot: megabytes for a large disk, so not contiguous */
	if (dev->bdev)
		bad = kvcalloc(5 * BITS_TO_LONGS(nr), sizeof(*bad), GFP_KERNEL);
	if (!table || !pool || (dev->bdev && !bad)) {
		vfree(table);
		xv_destroy_pool(pool);
		kvfree(bad);
		rz_comp_destroy(comp);
		return -ENOMEM;
	}
	xv_set_limit_pages(pool, dev->memlimit >> PAGE_SHIFT);

	memset(&dev->stats, 0, sizeof(dev->stats));
	atomic_long_set(&dev->bwl_left, dev->bwl);
	atomic_set(&dev->bdev_failed, 0);
	WRITE_ONCE(dev->backing_state,
		   dev->bdev ? RZ_BACKING_OK : RZ_BACKING_NONE);
	dev->table = table;
	dev->pool = pool;
	dev->comp = comp;
	dev->bdev_bad = bad;
	if (bad) {
		dev->bdev_trim = bad + BITS_TO_LONGS(nr);
		dev->bdev_trimming = bad + 2 * BITS_TO_LONGS(nr);
		dev->bdev_written = bad + 3 * BITS_TO_LONGS(nr);
		dev->bdev_busy = bad + 4 * BITS_TO_LONGS(nr);
		dev->bdev_can_trim = rz_bdev_can_discard(dev->bdev);
		dev->bdev_fail_limit = RZ_BACKING_MAX_FAILED + 2 *
			(queue_max_sectors(bdev_get_queue(dev->bdev)) /
			 RZ_SECTORS_PER_PAGE);
	}
	dev->nr_slots = nr;
	dev->disksize = disksize;
	/* publish the above to the lockless readers of init_done */
	smp_store_release(&dev->init_done, true);
	rz_set_capacity(dev->disk, disksize >> SECTOR_SHIFT);

	if (disksize > 2 * ram)
		pr_warn("%s: disksize %llu is more than twice RAM\n",
			dev->disk->disk_name, disksize);
	pr_info("%s: %llu KiB, memlimit %llu KiB, %s level %d, backing %s\n",
		dev->disk->disk_name, disksize >> 10, dev->memlimit >> 10,
		comp->be->name, comp->level,
		dev->backing_path ? dev->backing_path : "none");
	return 0;
}

/*
 * Free everything and forget the settings.  Called with dev->lock held; the
 * backing device goes to @old, for rz_backing_put() once it is dropped.
 */
int rz_dev_reset(struct rz_dev *dev, struct rz_backing_old *old)
{
	unsigned long i;

	if (test_bit(0, &dev->wb_busy) || !rz_claim(dev))
		return -EBUSY;
	if (dev->init_done) {
		/* stops new compaction work being queued by the frees below */
		smp_store_release(&dev->init_done, false);
		/* a deleted disk sends no more uevents */
		if (dev->gone)
			set_capacity(dev->disk, 0);
		else
			rz_set_capacity(dev->disk, 0);
		for (i = 0; i < dev->nr_slots; i++) {
			rz_free_slot(dev, i);
			if (!(i % 1024))
				cond_resched();
		}
		cancel_work_sync(&dev->compact_work);
		/* the frees above queued no trims: init_done is false */
		cancel_delayed_work_sync(&dev->trim_work);
		if (dev->bdev_bad)
			rz_backing_clear(dev);
		xv_destroy_pool(dev->pool);
		vfree(dev->table);
		kvfree(dev->bdev_bad);
		rz_comp_destroy(dev->comp);
		dev->comp = NULL;
		dev->pool = NULL;
		dev->table = NULL;
		dev->bdev_bad = NULL;
		dev->bdev_trim = NULL;
		dev->bdev_trimming = NULL;
		dev->bdev_written = NULL;
		dev->bdev_busy = NULL;
		dev->bdev_can_trim = false;
		dev->nr_slots = 0;
	}
	rz_backing_take(dev, old);
	dev->disksize = 0;
	dev->memlimit = 0;
	rz_comp_defaults(dev);
	dev->bwl = 0;
	atomic_long_set(&dev->bwl_left, 0);
	WRITE_ONCE(dev->backing_state, RZ_BACKING_NONE);
	memset(&dev->stats, 0, sizeof(dev->stats));
	rz_unclaim(dev);
	return 0;
}

/* Device 0 from the module parameters, with the original's defaults. */
static int rz_init_from_params(struct rz_dev *dev)
{
	u64 ram = (u64)totalram_pages() << PAGE_SHIFT;
	struct rz_backing_old old = { 0 };
	u64 disksize, memlimit;
	int err;

	if (check_mul_overflow((u64)disksize_kb, (u64)1024, &disksize) ||
	    check_mul_overflow((u64)memlimit_kb, (u64)1024, &memlimit))
		return -EINVAL;

	if (backing_swap && *backing_swap) {
		/* before taking dev->lock: see rz_backing_open() */
		err = rz_backing_open(dev, backing_swap);
		if (err) {
			pr_err("cannot use %s as backing swap: %d\n",
			       backing_swap, err);
			return err;
		}
	}
	mutex_lock(&dev->lock);
	if (dev->bdev) {
		if (!disksize)
			disksize = (u64)rz_bdev_nr_sectors(dev->bdev) <<
				   SECTOR_SHIFT;
		if (!memlimit)
			memlimit = min(div_u64(ram * 15, 100), disksize);
	} else if (!disksize) {
		disksize = ram / 4;
	}
	dev->memlimit = round_down(memlimit, PAGE_SIZE);
	err = rz_dev_init(dev, disksize);
	if (err) {
		pr_err("cannot initialise %s: disksize %llu memlimit %llu: %d\n",
		       dev->disk->disk_name, disksize, memlimit, err);
		rz_dev_reset(dev, &old);
	}
	mutex_unlock(&dev->lock);
	rz_backing_put(dev, &old);
	return err;
}

static int rz_dev_create(struct rz_dev *dev, int id)
{
	struct gendisk *disk;
	int err;

	mutex_init(&dev->lock);
	spin_lock_init(&dev->open_lock);
	INIT_WORK(&dev->compact_work, rz_compact_work);
	INIT_DELAYED_WORK(&dev->trim_work, rz_backing_trim_work);
	dev->id = id;
	rz_comp_defaults(dev);

	disk = rz_alloc_disk(PAGE_SIZE);
	if (IS_ERR(disk))
		return PTR_ERR(disk);
	disk->major = rz_major;
	disk->first_minor = id;
	disk->minors = 1;
	disk->fops = &rz_fops;
	disk->private_data = dev;
	snprintf(disk->disk_name, sizeof(disk->disk_name), "ramzswap%d", id);
	set_capacity(disk, 0);
	dev->disk = disk;

	err = rz_add_disk(disk, rz_attr_groups);
	if (err) {
		rz_put_disk(disk);
		dev->disk = NULL;
	}
	return err;
}

static void rz_dev_destroy(struct rz_dev *dev)
{
	struct rz_backing_old old = { 0 };

	if (!dev->disk)
		return;
	/*
	 * Until del_gendisk() has removed its sysfs files, a disksize or
	 * backing_swap write may set the device up again, so it is reset
	 * after that too: nothing stays allocated or claimed.  The first reset
	 * drops the capacity while the disk can still say so.
	 */
	mutex_lock(&dev->lock);
	rz_dev_reset(dev, &old);
	mutex_unlock(&dev->lock);
	rz_backing_put(dev, &old);
	rz_del_disk(dev->disk);
	mutex_lock(&dev->lock);
	dev->gone = true;
	rz_dev_reset(dev, &old);
	mutex_unlock(&dev->lock);
	rz_backing_put(dev, &old);
	rz_put_disk(dev->disk);
	dev->disk = NULL;
}

static void rz_cleanup(void)
{
	unsigned int i;

	for (i = 0; rz_devices && i < rz_nr_devices; i++)
		rz_dev_destroy(&rz_devices[i]);
	kfree(rz_devices);
	rz_devices = NULL;
	if (rz_major > 0)
		unregister_blkdev(rz_major, "ramzswap");
	rz_major = 0;
	if (rz_wq)
		destroy_workqueue(rz_wq);
	rz_wq = NULL;
	rz_bdev_module_exit();
	rz_streams_exit();
}

static int __init ramzswap_init(void)
{
	unsigned int i;
	int err;

	BUILD_BUG_ON(RZ_LOCK_BIT >= BITS_PER_LONG);
	if (num_devices < 1 || num_devices > RZ_MAX_DEVICES) {
		pr_err("num_devices must be 1-%d, not %u\n", RZ_MAX_DEVICES,
		       num_devices);
		return -EINVAL;
	}

	err = rz_streams_init();
	if (err)
		return err;
	err = rz_bdev_module_init();
	if (err) {
		rz_streams_exit();
		return err;
	}
	err = -ENOMEM;
	rz_wq = alloc_workqueue("ramzswap", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!rz_wq)
		goto fail;
	rz_major = register_blkdev(0, "ramzswap");
	if (rz_major < 0) {
		err = rz_major;
		goto fail;
	}
	rz_devices = kcalloc(num_devices, sizeof(*rz_devices), GFP_KERNEL);
	if (!rz_devices)
		goto fail;
	for (i = 0; i < num_devices; i++) {
		err = rz_dev_create(&rz_devices[i], i);
		if (err)
			goto fail;
		rz_nr_devices = i + 1;
	}
	/* the algorithm is a setting: it initialises nothing by itself */
	if (comp_algorithm || comp_level) {
		mutex_lock(&rz_devices[0].lock);
		err = rz_set_comp(&rz_devices[0], comp_algorithm, comp_level);
		mutex_unlock(&rz_devices[0].lock);
		if (err) {
			pr_err("no compressor %s at level %d: %d\n",
			       comp_algorithm ? comp_algorithm : RZ_COMP_DEFAULT,
			       comp_level, err);
			goto fail;
		}
	}
	if (disksize_kb || memlimit_kb || (backing_swap && *backing_swap)) {
		err = rz_init_from_params(&rz_devices[0]);
		if (err)
			goto fail;
	}
	pr_info("%u device(s)\n", num_devices);
	return 0;

fail:
	rz_cleanup();
	return err;
}

static void __exit ramzswap_exit(void)
{
	rz_cleanup();
}

module_init(ramzswap_init);
module_exit(ramzswap_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Compressed RAM swap device with memory limit and backing swap");
MODULE_SOFTDEP("pre: lz4_compress");
