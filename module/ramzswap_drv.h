/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ramzswap: compressed RAM block device for swap, with a memory limit and
 * an optional backing swap device that takes what RAM should not keep.
 */
#ifndef _RAMZSWAP_DRV_H_
#define _RAMZSWAP_DRV_H_

#include <linux/atomic.h>
#include <linux/bio.h>
#include <linux/highmem.h>
#include <linux/bit_spinlock.h>	/* after highmem.h: needs cpu_relax() */
#include <linux/blkdev.h>
#include <linux/local_lock.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include "compat.h"
#include "ramzswap_comp.h"
#include "xvmalloc/xvmalloc.h"

#define RZ_MAX_DEVICES		32
#define RZ_SECTORS_PER_PAGE	(PAGE_SIZE >> SECTOR_SHIFT)
#define RZ_PAGE_SECTOR_SHIFT	(PAGE_SHIFT - SECTOR_SHIFT)
/* pages compressing above this are stored whole (no backing device) */
#define RZ_MAX_ZPAGE		(PAGE_SIZE / 4 * 3)
/* with a backing device, pages compressing above this are forwarded */
#define RZ_MAX_ZPAGE_BDEV	(PAGE_SIZE / 2)

/*
 * Page allocations never recurse into I/O: first without sleeping (under
 * the per-CPU stream lock), then, outside it, allowed to reclaim without
 * I/O and to fail rather than loop.
 */
#define RZ_GFP_FAST	(GFP_NOWAIT | __GFP_NOWARN | __GFP_HIGHMEM)
#define RZ_GFP_SLOW	(GFP_NOIO | __GFP_NORETRY | __GFP_NOWARN | __GFP_HIGHMEM)

/* What a slot holds. */
enum rz_state {
	RZ_EMPTY,	/* never written, freed or discarded: reads as zeros */
	RZ_SAME,	/* one machine word repeated: data is the word */
	RZ_HUGE,	/* stored uncompressed: data is a raw pool page */
	RZ_COMP,	/* compressed object: data is its page, plus offset, length */
	RZ_BDEV,	/* on the backing device, same slot number */
	RZ_SPLIT,	/* compressed, in two objects: data is the first's page */
};

/*
 * A compressed page longer than RZ_SPLIT_LEN that fits no free block whole
 * is split in two objects: the first fills the largest free block that
 * takes at least RZ_SPLIT_HEAD bytes of it and leaves at least
 * RZ_SPLIT_TAIL for the second, which goes where it fits best.  Pages fill
 * up instead of each large object taking a page of its own (the original's
 * weakness with objects of PAGE_SIZE/2 or more).  The first object starts
 * with a link to the second.
 */
#define RZ_SPLIT_LEN		(PAGE_SIZE / 8 * 3)
#define RZ_SPLIT_HEAD		(PAGE_SIZE / 16)
#define RZ_SPLIT_TAIL		64

struct rz_link {
	struct page *page;	/* the second object */
	u16 off;
	u16 len;		/* bytes of compressed data in it */
};

#define RZ_LINK_SIZE		sizeof(struct rz_link)

/*
 * A slot: two words.  flags packs, from bit 0: the compressed length
 * (PAGE_SHIFT + 1 bits), the object offset in its page (PAGE_SHIFT bits),
 * the state (3 bits) and the slot lock (a bit spinlock).
 */
struct rz_slot {
	unsigned long flags;
	unsigned long data;
};

#define RZ_LEN_BITS		(PAGE_SHIFT + 1)
#define RZ_OFF_SHIFT		RZ_LEN_BITS
#define RZ_STATE_SHIFT		(RZ_OFF_SHIFT + PAGE_SHIFT)
#define RZ_LOCK_BIT		(RZ_STATE_SHIFT + 3)
/*
 * Above the lock, two marks that a write or a free of the slot clears (they
 * put new flags in), and that compaction keeps: idle, set by the idle
 * attribute and cleared by a read too; writeback, set while a copy of the
 * slot's page is on its way to the backing device, so that writeback can
 * tell when it lands whether the slot still holds that page.
 */
#define RZ_IDLE_BIT		(RZ_LOCK_BIT + 1)
#define RZ_WB_BIT		(RZ_LOCK_BIT + 2)
#define RZ_MARK_BITS		(BIT(RZ_IDLE_BIT) | BIT(RZ_WB_BIT))
static_assert(RZ_WB_BIT < BITS_PER_LONG);

static inline void rz_slot_lock(struct rz_slot *s)
{
	bit_spin_lock(RZ_LOCK_BIT, &s->flags);
}

static inline void rz_slot_unlock(struct rz_slot *s)
{
	bit_spin_unlock(RZ_LOCK_BIT, &s->flags);
}

static inline enum rz_state rz_slot_state(const struct rz_slot *s)
{
	return (s->flags >> RZ_STATE_SHIFT) & 7;
}

static inline u32 rz_slot_len(const struct rz_slot *s)
{
	return s->flags & ((1UL << RZ_LEN_BITS) - 1);
}

static inline u32 rz_slot_off(const struct rz_slot *s)
{
	return (s->flags >> RZ_OFF_SHIFT) & ((1UL << PAGE_SHIFT) - 1);
}

static inline unsigned long rz_slot_flags(enum rz_state st, u32 off, u32 len)
{
	return ((unsigned long)st << RZ_STATE_SHIFT) |
	       ((unsigned long)off << RZ_OFF_SHIFT) | len;
}

/* What the backing device is doing, as the stats file names it. */
enum rz_backing_state {
	RZ_BACKING_NONE,	/* none attached */
	RZ_BACKING_OK,		/* takes forwarded pages */
	RZ_BACKING_FAILED,	/* given up after failed writes */
	RZ_BACKING_REMOVED,	/* its disk went away */
};

/*
 * Forwarded writes failing one after another, with none succeeding between,
 * give the backing device up after two of its largest requests and this
 * many pages more: a partition worn out or gone fails every write, and each
 * retry would spend the write budget and time for nothing while RAM within
 * memlimit could hold the page.  A bad block does not: it fails the request
 * it is in, every page merged into it, but the writes around it succeed.
 */
#define RZ_BACKING_MAX_FAILED	16

struct rz_stats {
	atomic64_t num_reads;		/* pages read */
	atomic64_t num_writes;		/* pages written */
	atomic64_t failed_reads;
	atomic64_t failed_writes;
	atomic64_t invalid_io;		/* requests out of range or misaligned */
	atomic64_t notify_free;		/* slots released by notify or discard */
	atomic64_t same_pages;		/* gauges from here ... */
	atomic64_t pages_stored;
	atomic64_t pages_expand;
	atomic64_t good_compress;
	atomic64_t compr_data_size;	/* ... to here */
	atomic64_t mem_used_max;
	atomic64_t bdev_num_reads;
	atomic64_t bdev_num_writes;
	atomic64_t bdev_num_discards;	/* stale pages trimmed there */
	atomic64_t bdev_wb_pages;	/* moved there by writeback */
	atomic64_t bdev_wb_skipped;	/* written there, but touched meanwhile */
};

struct rz_dev {
	struct gendisk *disk;
	int id;
	/*
	 * lock serialises settings, init and reset.  ->open() and ->release()
	 * run under the disk's open mutex and must not take it: reset closes
	 * the backing device, which takes that device's open mutex.  They count
	 * openers under open_lock instead, a leaf lock, and refuse to open
	 * while reset has claimed the device.
	 */
	struct mutex lock;
	spinlock_t open_lock;		/* openers and claimed */
	unsigned int openers;
	bool claimed;			/* by reset: no opens */
	bool init_done;			/* read locklessly with acquire */
	bool gone;			/* its disk was deleted (unload) */
	unsigned long wb_busy;		/* bit 0: idle or writeback at work */
	u64 disksize;			/* bytes, multiple of PAGE_SIZE */
	u64 memlimit;			/* bytes, 0 = none */
	/* the algorithm and level set for init; comp: made by init from them */
	char comp_name[RZ_COMP_NAME_MAX];
	int comp_level;			/* 0 = the algorithm's default */
	struct rz_comp *comp;
	unsigned long nr_slots;
	struct rz_slot *table;
	struct xv_pool *pool;

	/* backing device; closed only with dev->lock dropped (see above) */
	struct block_device *bdev;
	struct rz_bdev_ref bdev_ref;
	char *backing_path;
	/*
	 * Bitmaps of a bit per slot, one allocation: bdev_bad, slots whose
	 * backing write failed; bdev_trim, slots whose copy there is stale,
	 * for trim_work to discard; bdev_trimming, being discarded (no page
	 * goes there meanwhile); bdev_written, written there since init (reset
	 * clears them); bdev_busy, a write there in flight, a forwarded page
	 * or a writeback: one at a time, or the older could land last.
	 */
	unsigned long *bdev_bad;
	unsigned long *bdev_trim;
	unsigned long *bdev_trimming;
	unsigned long *bdev_written;
	unsigned long *bdev_busy;
	bool bdev_can_trim;		/* the backing device takes discards */
	struct delayed_work trim_work;
	int backing_state;		/* enum rz_backing_state, READ_ONCE */
	atomic_t bdev_failed;		/* forwarded writes failed in a row */
	int bdev_fail_limit;		/* that give it up */
	unsigned long bwl;		/* backing_write_limit, 0 = none */
	atomic_long_t bwl_left;

	struct work_struct compact_work;
	struct rz_stats stats;
};

/* ramzswap_drv.c */
extern const struct block_device_operations rz_fops;
extern struct workqueue_struct *rz_wq;
int rz_dev_init(struct rz_dev *dev, u64 disksize);
void rz_comp_defaults(struct rz_dev *dev);
int rz_set_comp(struct rz_dev *dev, const char *name, int level);
/* A backing device taken out of its rz_dev, to be closed outside dev->lock. */
struct rz_backing_old {
	struct block_device *bdev;
	struct rz_bdev_ref ref;
	char *path;
};

int rz_dev_reset(struct rz_dev *dev, struct rz_backing_old *old);
void rz_release(struct rz_dev *dev, const struct rz_slot *e);
int rz_load(struct rz_dev *dev, struct rz_stream *s, struct rz_slot *slot,
	    u8 *dst);
u64 rz_max_disksize(void);
bool rz_devt_is_ours(dev_t devt);

/* ramzswap_bdev.c: the backing device */
int rz_bdev_module_init(void);
void rz_bdev_module_exit(void);
int rz_backing_open(struct rz_dev *dev, const char *path);
void rz_backing_take(struct rz_dev *dev, struct rz_backing_old *old);
void rz_backing_put(struct rz_dev *dev, struct rz_backing_old *old);
bool rz_backing_may_write(struct rz_dev *dev, unsigned long index,
			  bool ram_full);
void rz_backing_forget(struct rz_dev *dev, unsigned long index);
void rz_backing_unclaim(struct rz_dev *dev, unsigned long index, bool stale);
void rz_backing_wrote(struct rz_dev *dev, unsigned long index);
void rz_backing_write_done(struct rz_dev *dev, unsigned long index,
			   blk_status_t status);
bool rz_backing_gone(struct rz_dev *dev);
void rz_backing_trim_work(struct work_struct *work);
void rz_backing_clear(struct rz_dev *dev);
const char *rz_backing_state_name(struct rz_dev *dev);
void rz_backing_submit(struct rz_dev *dev, struct bio *parent,
		       const struct bvec_iter *iter, unsigned long index,
		       bool write);

/* ramzswap_writeback.c: idle pages to the backing device, on request */
enum rz_wb_mode {
	RZ_WB_IDLE = BIT(0),		/* slots marked idle */
	RZ_WB_HUGE = BIT(1),		/* slots stored uncompressed */
};

void rz_mark_idle(struct rz_dev *dev);
int rz_writeback(struct rz_dev *dev, unsigned int mode,
		 unsigned long max_pages);

/* ramzswap_sysfs.c */
extern const struct attribute_group *rz_attr_groups[];

#endif /* _RAMZSWAP_DRV_H_ */
