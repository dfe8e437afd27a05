// SPDX-License-Identifier: GPL-2.0-only
/*
 * ramzswap: the backing swap device.
 *
 * Slot N of a ramzswap device is slot N of its backing device (sector
 * N * PAGE_SIZE / 512), as in the original.  Pages go there when they
 * compress badly or when RAM must not take them; they are written and read
 * with clones of the request's own bio, chained to it, so the request
 * completes when the backing I/O does.  The clones come from a bio_set
 * with a rescuer, because they are allocated while the block layer holds
 * back bios submitted from inside ->submit_bio().
 */
#include <linux/bitmap.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "ramzswap_drv.h"

/* A forwarded request: the clone, and what its completion needs. */
struct rz_fwd {
	struct rz_dev *dev;
	struct bio *parent;
	unsigned long index;
	bool write;
	struct bio bio;		/* last: allocated by the bio_set */
};

static struct bio_set rz_fwd_set;

int rz_bdev_module_init(void)
{
	return bioset_init(&rz_fwd_set, BIO_POOL_SIZE,
			   offsetof(struct rz_fwd, bio), BIOSET_NEED_RESCUER);
}

void rz_bdev_module_exit(void)
{
	bioset_exit(&rz_fwd_set);
}

/*
 * Open @path exclusively as the backing device of @dev (replacing any
 * earlier one); -EBUSY once @dev is initialised.  Takes dev->lock itself,
 * which must not be held: a block device is opened and closed under its
 * own open mutex, which never nests inside dev->lock (see struct rz_dev).
 */
int rz_backing_open(struct rz_dev *dev, const char *path)
{
	struct rz_backing_old old = { 0 };
	struct rz_bdev_ref ref;
	struct block_device *bdev;
	dev_t devt;
	char *copy;
	int err = -EINVAL;

	/* pairs with rz_dev_init(); checked again under the lock below */
	if (smp_load_acquire(&dev->init_done))
		return -EBUSY;
	/*
	 * Never back a ramzswap device with a ramzswap device, and find out
	 * before opening it: from 6.10 a block device is closed when its
	 * opener returns to user space, and a module whose init failed is
	 * gone by then, with the release method of the disk it opened.
	 */
	err = rz_path_devt(path, &devt);
	if (err)
		return err;
	if (rz_devt_is_ours(devt))
		return -EINVAL;
	err = -EINVAL;
	copy = kstrdup(path, GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	bdev = rz_bdev_open(path, dev, &ref);
	if (IS_ERR(bdev)) {
		kfree(copy);
		return PTR_ERR(bdev);
	}
	/* the path may have been replaced since: check the disk itself too */
	if (bdev->bd_disk->fops == &rz_fops)
		goto refuse;
	if (bdev_logical_block_size(bdev) > PAGE_SIZE)
		goto refuse;
	if (rz_bdev_nr_sectors(bdev) < RZ_SECTORS_PER_PAGE)
		goto refuse;

	mutex_lock(&dev->lock);
	if (dev->init_done) {
		mutex_unlock(&dev->lock);
		err = -EBUSY;
		goto refuse;
	}
	rz_backing_take(dev, &old);
	dev->bdev = bdev;
	dev->bdev_ref = ref;
	dev->backing_path = copy;
	mutex_unlock(&dev->lock);
	rz_backing_put(dev, &old);
	return 0;

refuse:
	rz_bdev_close(&ref, dev);
	kfree(copy);
	return err;
}

/* Detach the backing device of @dev into @old; dev->lock held. */
void rz_backing_take(struct rz_dev *dev, struct rz_backing_old *old)
{
	old->bdev = dev->bdev;
	old->ref = dev->bdev_ref;
	old->path = dev->backing_path;
	dev->bdev = NULL;
	dev->backing_path = NULL;
}

/* Close what rz_backing_take() detached; dev->lock not held. */
void rz_backing_put(struct rz_dev *dev, struct rz_backing_old *old)
{
	if (old->bdev)
		rz_bdev_close(&old->ref, dev);
	kfree(old->path);
	old->bdev = NULL;
	old->path = NULL;
}

/*
 * Stop forwarding to the backing device of @dev for good (until reset),
 * saying why once.  Pages already there are still read from it.  Any
 * context: the state is one word, moved away from ok once.
 */
static void rz_backing_give_up(struct rz_dev *dev, int state)
{
	if (cmpxchg(&dev->backing_state, RZ_BACKING_OK, state) != RZ_BACKING_OK)
		return;
	if (state == RZ_BACKING_REMOVED)
		pr_warn("%s: backing device %s was removed: no more pages go to it, they stay in RAM within memlimit\n",
			dev->disk->disk_name, dev->backing_path);
	else
		pr_warn("%s: backing device %s failed %d writes in a row: no more pages go to it, they stay in RAM within memlimit\n",
			dev->disk->disk_name, dev->backing_path,
			dev->bdev_fail_limit);
}

/*
 * May the page for slot @index go to the backing device?  Not once it has
 * been given up or its disk is gone, and not beyond the write budget; takes
 * one page of the budget when it says yes.  Not into a slot whose last write
 * there failed either (swap writes the same page to the same slot again),
 * unless RAM cannot take the page (@ram_full): a failed request fails every
 * page merged into it, so the retry may well succeed, and refusing it would
 * leave swap retrying a write that can only fail.  Nor while another write
 * to the slot's block is in flight (a writeback of its old page): a yes
 * claims the block until rz_backing_write_done().
 */
bool rz_backing_may_write(struct rz_dev *dev, unsigned long index,
			  bool ram_full)
{
	bool claimed;

	if (!dev->bdev || READ_ONCE(dev->backing_state) != RZ_BACKING_OK)
		return false;
	if (rz_bdev_dead(dev->bdev)) {
		rz_backing_give_up(dev, RZ_BACKING_REMOVED);
		return false;
	}
	if (!ram_full && test_bit(index, dev->bdev_bad))
		return false;
	if (test_and_set_bit(index, dev->bdev_busy))
		return false;
	/*
	 * A stale copy waiting to be trimmed is overwritten instead: taking
	 * its bit keeps trim_work away.  Failing that, trim_work may have
	 * taken it: while that discard is in flight nothing goes to the slot
	 * (the block layer does not order a write after a discard).  Pairs
	 * with the barrier in rz_backing_trim_work().
	 */
	claimed = test_and_clear_bit(index, dev->bdev_trim);
	if (!claimed) {
		/* a test_and_clear_bit() that finds the bit clear orders nothing */
		smp_mb__after_atomic();
		if (test_bit(index, dev->bdev_trimming)) {
			clear_bit(index, dev->bdev_busy);
			return false;
		}
	}
	if (!READ_ONCE(dev->bwl) ||
	    atomic_long_add_unless(&dev->bwl_left, -1, 0))
		return true;
	clear_bit(index, dev->bdev_busy);
	if (claimed)	/* not overwritten after all: trim it as planned */
		rz_backing_forget(dev, index);
	return false;
}

/*
 * A claim of rz_backing_may_write() given back unused: the budget it took
 * comes back.  @stale: the slot's page is not on the backing device (the
 * caller saw so under the slot lock), so whatever its block holds is
 * trimmed; a slot that is there keeps its block as it is.
 */
void rz_backing_unclaim(struct rz_dev *dev, unsigned long index, bool stale)
{
	if (READ_ONCE(dev->bwl))
		atomic_long_inc(&dev->bwl_left);
	if (stale)
		rz_backing_forget(dev, index);
	/* the trim is queued before another write may claim the block */
	smp_mb__before_atomic();
	clear_bit(index, dev->bdev_busy);
}

/* A write to slot @index's block is being submitted. */
void rz_backing_wrote(struct rz_dev *dev, unsigned long index)
{
	/* rz_backing_write_done() sets it again if this write fails too */
	clear_bit(index, dev->bdev_bad);
	set_bit(index, dev->bdev_written);
	atomic64_inc(&dev->stats.bdev_num_writes);
}

/*
 * A write to slot @index's block has completed: its claim ends.  In any
 * context.  A disk that takes some writes is not given up; one failing
 * them in a row is.
 */
void rz_backing_write_done(struct rz_dev *dev, unsigned long index,
			   blk_status_t status)
{
	if (!status) {
		atomic_set(&dev->bdev_failed, 0);
	} else {
		/* never hand out what the failed write left there */
		set_bit(index, dev->bdev_bad);
		if (atomic_inc_return(&dev->bdev_failed) >=
		    dev->bdev_fail_limit)
			rz_backing_give_up(dev, rz_bdev_dead(dev->bdev) ?
					   RZ_BACKING_REMOVED :
					   RZ_BACKING_FAILED);
	}
	/* what the slot's state says of the block is seen before the claim ends */
	smp_mb__before_atomic();
	clear_bit(index, dev->bdev_busy);
}

/*
 * Slot @index no longer has a page on the backing device (freed, or
 * overwritten in RAM): its copy there is trimmed within half a second, in
 * runs with its neighbours, so that the flash knows those blocks are free.
 */
void rz_backing_forget(struct rz_dev *dev, unsigned long index)
{
	if (!dev->bdev_can_trim ||
	    READ_ONCE(dev->backing_state) != RZ_BACKING_OK)
		return;
	/* nothing is queued once reset has begun (its release store) */
	if (!smp_load_acquire(&dev->init_done))
		return;
	set_bit(index, dev->bdev_trim);
	queue_delayed_work(rz_wq, &dev->trim_work, HZ / 2);
}

/* Runs of at most this many pages go in one discard. */
#define RZ_TRIM_RUN	256

void rz_backing_trim_work(struct work_struct *work)
{
	struct rz_dev *dev = container_of(to_delayed_work(work), struct rz_dev,
					  trim_work);
	unsigned long start = 0, end, i;

	while (READ_ONCE(dev->backing_state) == RZ_BACKING_OK) {
		if (rz_bdev_dead(dev->bdev)) {
			rz_backing_give_up(dev, RZ_BACKING_REMOVED);
			break;
		}
		start = find_next_bit(dev->bdev_trim, dev->nr_slots, start);
		if (start >= dev->nr_slots)
			break;
		end = min(find_next_zero_bit(dev->bdev_trim, dev->nr_slots,
					     start), start + RZ_TRIM_RUN);
		/*
		 * Claim each slot (trimming, then its trim bit) and stop at one
		 * the write path took back first: see rz_backing_may_write().
		 */
		for (i = start; i < end; i++) {
			set_bit(i, dev->bdev_trimming);
			/* trimming is seen set before the trim bit is taken */
			smp_mb__after_atomic();
			if (!test_and_clear_bit(i, dev->bdev_trim)) {
				clear_bit(i, dev->bdev_trimming);
				break;
			}
		}
		if (i > start) {
			/* a failed discard leaves stale data, never wrong data */
			if (!rz_bdev_discard(dev->bdev, start * RZ_SECTORS_PER_PAGE,
					     (i - start) * RZ_SECTORS_PER_PAGE))
				atomic64_add(i - start,
					     &dev->stats.bdev_num_discards);
			/* the discard is done before a page may go there again */
			smp_mb__before_atomic();
			for (end = start; end < i; end++)
				clear_bit(end, dev->bdev_trimming);
		}
		start = i;
		cond_resched();
	}
}

/*
 * Zero every run of slots written to the backing device, @flags as for
 * blkdev_issue_zeroout().  The runs go out as one chain of bios waited for
 * once: pages kept in RAM between forwarded ones can leave tens of
 * thousands of short runs, and a wait per run held reset (and dev->lock)
 * for minutes on a slow machine.  -EOPNOTSUPP before anything was sent
 * when @flags forbids writing zeros out and the device has no write-zeroes.
 */
static int rz_backing_zero_runs(struct rz_dev *dev, unsigned int flags)
{
	unsigned long start = 0, end;
	struct bio *bio = NULL;
	struct blk_plug plug;
	int err = 0, ret;

	blk_start_plug(&plug);
	while ((start = find_next_bit(dev->bdev_written, dev->nr_slots,
				      start)) < dev->nr_slots) {
		end = find_next_zero_bit(dev->bdev_written, dev->nr_slots, start);
		err = __blkdev_issue_zeroout(dev->bdev,
					     (sector_t)start * RZ_SECTORS_PER_PAGE,
					     (sector_t)(end - start) *
					     RZ_SECTORS_PER_PAGE,
					     GFP_KERNEL, &bio, flags);
		if (err)
			break;
		start = end;
		cond_resched();
	}
	if (bio) {
		/* the last bio of the chain completes after all the others */
		ret = submit_bio_wait(bio);
		bio_put(bio);
		if (!err)
			err = ret;
	}
	blk_finish_plug(&plug);
	return err;
}

/*
 * Reset: no page written to the backing device since init stays readable
 * there.  Write-zeroes where the device has it (cheap, often an unmap),
 * else a discard where it takes one (the flash's own business after that),
 * else zeros written out.  The discard covers the span from the first
 * written slot to the last in one request: between them lies nothing but
 * our own unused slots, and a discard costs the same for any length.
 * Called with dev->lock held, trim_work stopped, before the bitmaps go.
 */
void rz_backing_clear(struct rz_dev *dev)
{
	unsigned long first, last, pages;
	int err;

	if (!dev->bdev || READ_ONCE(dev->backing_state) == RZ_BACKING_REMOVED)
		return;
	first = find_first_bit(dev->bdev_written, dev->nr_slots);
	if (first >= dev->nr_slots)
		return;
	last = find_last_bit(dev->bdev_written, dev->nr_slots);
	pages = bitmap_weight(dev->bdev_written, dev->nr_slots);
	err = rz_backing_zero_runs(dev, BLKDEV_ZERO_NOFALLBACK);
	if (err == -EOPNOTSUPP && dev->bdev_can_trim)
		err = rz_bdev_discard(dev->bdev,
				      (sector_t)first * RZ_SECTORS_PER_PAGE,
				      (sector_t)(last + 1 - first) *
				      RZ_SECTORS_PER_PAGE);
	if (err == -EOPNOTSUPP)
		err = rz_backing_zero_runs(dev, 0);
	if (err) {
		pr_warn("%s: could not clear %lu pages on %s: %d\n",
			dev->disk->disk_name, pages, dev->backing_path, err);
		return;
	}
	atomic64_add(pages, &dev->stats.bdev_num_discards);
}

/* Has the backing device's disk gone away?  Gives it up when it has. */
bool rz_backing_gone(struct rz_dev *dev)
{
	if (READ_ONCE(dev->backing_state) == RZ_BACKING_REMOVED)
		return true;
	if (!rz_bdev_dead(dev->bdev))
		return false;
	rz_backing_give_up(dev, RZ_BACKING_REMOVED);
	return true;
}

const char *rz_backing_state_name(struct rz_dev *dev)
{
	static const char *const names[] = {
		[RZ_BACKING_NONE]	= "none",
		[RZ_BACKING_OK]		= "ok",
		[RZ_BACKING_FAILED]	= "failed",
		[RZ_BACKING_REMOVED]	= "removed",
	};
	int state = READ_ONCE(dev->backing_state);

	return state >= 0 && state < ARRAY_SIZE(names) ? names[state] : "?";
}

static void rz_fwd_endio(struct bio *bio)
{
	struct rz_fwd *fwd = container_of(bio, struct rz_fwd, bio);
	struct bio *parent = fwd->parent;
	struct rz_dev *dev = fwd->dev;
	blk_status_t status = bio->bi_status;

	if (fwd->write)
		rz_backing_write_done(dev, fwd->index, status);
	if (status) {
		atomic64_inc(fwd->write ? &dev->stats.failed_writes :
			     &dev->stats.failed_reads);
		if (!parent->bi_status)
			parent->bi_status = status;
	}
	bio_put(bio);
	bio_endio(parent);
}

/*
 * Forward the page of @parent at @iter (slot @index) to or from the
 * backing device.  The caller has already taken the write budget.
 */
void rz_backing_submit(struct rz_dev *dev, struct bio *parent,
		       const struct bvec_iter *iter, unsigned long index,
		       bool write)
{
	struct rz_fwd *fwd;
	struct bio *bio;

	/* a mempool allocation that may sleep: it does not fail */
	bio = rz_bio_clone(parent, dev->bdev, &rz_fwd_set);
	fwd = container_of(bio, struct rz_fwd, bio);
	fwd->dev = dev;
	fwd->parent = parent;
	fwd->index = index;
	fwd->write = write;
	bio_trim(bio, iter->bi_sector - parent->bi_iter.bi_sector,
		 RZ_SECTORS_PER_PAGE);
	bio->bi_end_io = rz_fwd_endio;
	if (write)
		rz_backing_wrote(dev, index);
	else
		atomic64_inc(&dev->stats.bdev_num_reads);
	bio_inc_remaining(parent);
	submit_bio(bio);
}
