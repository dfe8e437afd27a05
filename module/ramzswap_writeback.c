// SPDX-License-Identifier: GPL-2.0-only
/*
 * ramzswap: writeback, pages moved from RAM to the backing device on request.
 *
 * Swap forwards a page to the backing device only when it is written; a page
 * that compressed well stays in RAM however long nobody reads it.  User
 * space (ramzswap-setup writeback) marks the stored pages idle, waits, and
 * asks for those still idle (or those stored uncompressed) to be moved: each
 * goes to the same slot of the backing device as a forwarded page would,
 * and its RAM is freed once it is there.
 *
 * Nothing here runs in the swap path.  A slot is decompressed into a page
 * of our own under its lock, marked RZ_WB_BIT, and written in batches; when
 * the batch has landed, a slot still marked (no write or free since: they
 * put new flags in) becomes RZ_BDEV and its RAM is freed.  A slot written or
 * freed meanwhile keeps what it has, and the copy just written is stale: it
 * is trimmed.  A read meanwhile is served from RAM, which still holds the
 * page.  The backing block is claimed for the whole write (bdev_busy), so a
 * forwarded page of the same slot cannot be overtaken by the older copy.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/completion.h>
#include <linux/gfp.h>
#include <linux/sched.h>

#include "ramzswap_drv.h"

/* Pages in flight at once: enough for the block layer to merge runs. */
#define RZ_WB_BATCH	32

struct rz_wb_batch {
	struct rz_dev *dev;
	atomic_t pending;
	struct completion done;
	unsigned int n;
	unsigned long index[RZ_WB_BATCH];
	struct page *page[RZ_WB_BATCH];
	blk_status_t status[RZ_WB_BATCH];
};

static bool rz_in_ram(enum rz_state state)
{
	return state == RZ_COMP || state == RZ_SPLIT || state == RZ_HUGE;
}

/* Mark every slot held in RAM idle; a read, write or free clears it. */
void rz_mark_idle(struct rz_dev *dev)
{
	unsigned long i;

	for (i = 0; i < dev->nr_slots; i++) {
		struct rz_slot *s = &dev->table[i];

		rz_slot_lock(s);
		if (rz_in_ram(rz_slot_state(s)))
			s->flags |= BIT(RZ_IDLE_BIT);
		rz_slot_unlock(s);
		if (!(i % 1024))
			cond_resched();
	}
}

static bool rz_wb_wanted(const struct rz_slot *s, unsigned int mode)
{
	unsigned long flags = READ_ONCE(s->flags);
	enum rz_state state = (flags >> RZ_STATE_SHIFT) & 7;

	if (!rz_in_ram(state) || (flags & BIT(RZ_WB_BIT)))
		return false;
	if ((mode & RZ_WB_IDLE) && !(flags & BIT(RZ_IDLE_BIT)))
		return false;
	return !(mode & RZ_WB_HUGE) || state == RZ_HUGE;
}

/*
 * Take slot @index into the batch if @mode wants it and the backing device
 * may have it: its page is decompressed into the batch's next page.
 */
static bool rz_wb_take(struct rz_dev *dev, struct rz_wb_batch *wb,
		       unsigned long index, unsigned int mode)
{
	struct rz_slot *s = &dev->table[index];
	struct page *page = wb->page[wb->n];
	bool taken = false, stale;
	struct rz_stream *st;
	u8 *dst;

	/* a look without the lock first: most slots are not wanted */
	if (!rz_wb_wanted(s, mode) || !rz_backing_may_write(dev, index, false))
		return false;
	st = rz_stream_get();
	dst = rz_kmap_local(page);
	rz_slot_lock(s);
	if (rz_wb_wanted(s, mode) && !rz_load(dev, st, s, dst)) {
		s->flags |= BIT(RZ_WB_BIT);
		taken = true;
	}
	/* forwarded since the look above (its write has landed): the block is its */
	stale = rz_slot_state(s) != RZ_BDEV;
	rz_slot_unlock(s);
	rz_kunmap_local(dst);
	rz_stream_put();
	if (!taken) {
		rz_backing_unclaim(dev, index, stale);
		return false;
	}
	wb->index[wb->n++] = index;
	return true;
}

static void rz_wb_endio(struct bio *bio)
{
	struct rz_wb_batch *wb = bio->bi_private;
	unsigned int k;

	for (k = 0; k < wb->n; k++)
		if (wb->page[k] == bio_first_page_all(bio))
			wb->status[k] = bio->bi_status;
	bio_put(bio);
	if (atomic_dec_and_test(&wb->pending))
		complete(&wb->done);
}

/* Write the batch's pages, each to its slot's block; wait for all. */
static void rz_wb_submit(struct rz_dev *dev, struct rz_wb_batch *wb)
{
	struct blk_plug plug;
	unsigned int k;

	atomic_set(&wb->pending, 1);
	reinit_completion(&wb->done);
	blk_start_plug(&plug);
	for (k = 0; k < wb->n; k++) {
		/* a mempool allocation that may sleep: it does not fail */
		struct bio *bio = rz_bio_alloc_write(dev->bdev);

		bio->bi_iter.bi_sector = (sector_t)wb->index[k] *
					 RZ_SECTORS_PER_PAGE;
		__bio_add_page(bio, wb->page[k], PAGE_SIZE, 0);
		bio->bi_private = wb;
		bio->bi_end_io = rz_wb_endio;
		wb->status[k] = BLK_STS_OK;
		rz_backing_wrote(dev, wb->index[k]);
		atomic_inc(&wb->pending);
		submit_bio(bio);
	}
	blk_finish_plug(&plug);
	if (!atomic_dec_and_test(&wb->pending))
		wait_for_completion(&wb->done);
}

/* A slot's copy has landed (or failed): move the slot there if it still can. */
static bool rz_wb_finish(struct rz_dev *dev, unsigned long index,
			 blk_status_t status)
{
	struct rz_slot *s = &dev->table[index];
	struct rz_slot e = { 0 };
	bool moved = false;

	rz_slot_lock(s);
	if (!status && (s->flags & BIT(RZ_WB_BIT))) {
		e.flags = s->flags & ~(RZ_MARK_BITS | BIT(RZ_LOCK_BIT));
		e.data = s->data;
		s->data = 0;
		s->flags = rz_slot_flags(RZ_BDEV, 0, 0) | BIT(RZ_LOCK_BIT);
		moved = true;
	} else {
		s->flags &= ~BIT(RZ_WB_BIT);
	}
	rz_slot_unlock(s);
	if (moved) {
		rz_release(dev, &e);
		atomic64_inc(&dev->stats.bdev_wb_pages);
	} else if (!status) {
		/* written or freed meanwhile: the copy there is stale */
		rz_backing_forget(dev, index);
		atomic64_inc(&dev->stats.bdev_wb_skipped);
	}
	rz_backing_write_done(dev, index, status);
	return moved;
}

/*
 * Move up to @max_pages slots that @mode wants (RZ_WB_IDLE, RZ_WB_HUGE or
 * both) to the backing device, within its write budget.  Called on an
 * initialised device with a backing device, with bit 0 of wb_busy taken
 * (which keeps reset away) and without dev->lock; returns when the last
 * batch has landed, 0 or -ENOMEM.
 */
int rz_writeback(struct rz_dev *dev, unsigned int mode,
		 unsigned long max_pages)
{
	struct rz_wb_batch *wb;
	unsigned long index = 0, moved = 0;
	unsigned int k;
	int err = 0;

	wb = rz_kzalloc_obj(wb);
	if (!wb)
		return -ENOMEM;
	init_completion(&wb->done);
	wb->dev = dev;
	for (k = 0; k < RZ_WB_BATCH; k++) {
		wb->page[k] = alloc_page(GFP_KERNEL | __GFP_NOWARN);
		if (!wb->page[k]) {
			err = -ENOMEM;
			goto out;
		}
	}
	while (index < dev->nr_slots && moved < max_pages &&
	       READ_ONCE(dev->backing_state) == RZ_BACKING_OK) {
		wb->n = 0;
		while (wb->n < RZ_WB_BATCH && index < dev->nr_slots &&
		       moved + wb->n < max_pages) {
			rz_wb_take(dev, wb, index, mode);
			if (!(++index % 1024))
				cond_resched();
		}
		if (!wb->n)
			continue;
		rz_wb_submit(dev, wb);
		for (k = 0; k < wb->n; k++)
			moved += rz_wb_finish(dev, wb->index[k], wb->status[k]);
		if (fatal_signal_pending(current))
			break;
	}
out:
	for (k = 0; k < RZ_WB_BATCH; k++)
		if (wb->page[k])
			__free_page(wb->page[k]);
	kfree(wb);
	return err;
}
