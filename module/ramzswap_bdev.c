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
	char *copy;
	int err = -EINVAL;

	/* pairs with rz_dev_init(); checked again under the lock below */
	if (smp_load_acquire(&dev->init_done))
		return -EBUSY;
	copy = kstrdup(path, GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	bdev = rz_bdev_open(path, dev, &ref);
	if (IS_ERR(bdev)) {
		kfree(copy);
		return PTR_ERR(bdev);
	}
	/* never back a ramzswap device with a ramzswap device */
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
	pr_warn("%s: backing device %s %s: no more pages go to it, they stay in RAM within memlimit\n",
		dev->disk->disk_name, dev->backing_path,
		state == RZ_BACKING_REMOVED ? "was removed" :
		"failed writes to " __stringify(RZ_BACKING_MAX_FAILED) " slots");
}

/*
 * May the page for slot @index go to the backing device?  Not once it has
 * been given up or its disk is gone, not into a slot whose last write there
 * failed (swap writes the same slot again), and not beyond the write
 * budget; takes one page of the budget when it says yes.
 */
bool rz_backing_may_write(struct rz_dev *dev, unsigned long index)
{
	if (!dev->bdev || READ_ONCE(dev->backing_state) != RZ_BACKING_OK)
		return false;
	if (rz_bdev_dead(dev->bdev)) {
		rz_backing_give_up(dev, RZ_BACKING_REMOVED);
		return false;
	}
	if (test_bit(index, dev->bdev_bad))
		return false;
	if (!READ_ONCE(dev->bwl))
		return true;
	return atomic_long_add_unless(&dev->bwl_left, -1, 0);
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

	if (status) {
		if (fwd->write) {
			/* never hand out what the failed write left there */
			set_bit(fwd->index, dev->bdev_bad);
			atomic64_inc(&dev->stats.failed_writes);
			if (atomic_inc_return(&dev->bdev_failed) >=
			    RZ_BACKING_MAX_FAILED)
				rz_backing_give_up(dev,
						   rz_bdev_dead(dev->bdev) ?
						   RZ_BACKING_REMOVED :
						   RZ_BACKING_FAILED);
		} else {
			atomic64_inc(&dev->stats.failed_reads);
		}
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
	if (write) {
		/* rz_backing_may_write() said this slot's bit is clear */
		atomic64_inc(&dev->stats.bdev_num_writes);
	} else {
		atomic64_inc(&dev->stats.bdev_num_reads);
	}
	bio_inc_remaining(parent);
	submit_bio(bio);
}
