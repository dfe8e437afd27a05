/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel version differences for ramzswap, 5.10 to 7.x, in one place.
 * The rest of the module calls the rz_*() helpers below and never tests
 * the kernel version itself, but for the block_device_operations
 * signatures: their adapters sit next to rz_fops in ramzswap_drv.c, so that
 * the callbacks stay static.
 * LINUX_VERSION_CODE clamps the sublevel at 255 (5.10.y is past 5.10.255),
 * so comparing against KERNEL_VERSION(x, y, 0) is safe on every stable tree.
 *
 * Version boundaries, as found in the kernel sources:
 *   5.11  kmap_local_page() (kmap_atomic() before)
 *   5.12  bio->bi_bdev replaces bio->bi_disk
 *   5.14  blk_alloc_disk(node) replaces blk_alloc_queue() + alloc_disk()
 *   5.15  device_add_disk() returns an error
 *   5.16  ->submit_bio() returns void (blk_qc_t before);
 *         bdev_nr_sectors() used from here (i_size of bd_inode before)
 *   5.18  bio_alloc_clone() replaces bio_clone_fast()
 *   5.19  QUEUE_FLAG_DISCARD is gone (discard follows the limits)
 *   6.0   blk_cleanup_disk() is gone: del_gendisk() then put_disk()
 *   6.5   ->open(disk, blk_mode_t), ->release(disk);
 *         blkdev_get_by_path(path, mode, holder, ops), blkdev_put(bdev, holder)
 *   6.7   bdev_open_by_path() returns a bdev_handle, bdev_release()
 *   6.9   bdev_file_open_by_path() returns a file;
 *         blk_alloc_disk(&limits, node) returns an ERR_PTR
 *   6.10  bdev_fput()
 *   6.11  queue features (BLK_FEAT_*) in the limits replace queue flags
 *   7.x   kvzalloc_obj() and family, which checkpatch asks for (looked for
 *         as a macro rather than assumed by version)
 * ->swap_slot_free_notify() is present from 2.6.35 to at least 7.3; Kbuild
 * looks for it in the headers and defines RZ_HAVE_SLOT_FREE_NOTIFY.
 * How a disk tells swap it is synchronous (swap-in then bypasses the swap
 * cache and frees the slot at once) is looked for the same way:
 *   before 6.3  it has ->rw_page() (RZ_HAVE_RW_PAGE; an enum req_op
 *               argument from 5.19 on, RZ_RW_PAGE_ENUM_OP)
 *   6.3-6.10    QUEUE_FLAG_SYNCHRONOUS (RZ_HAVE_QUEUE_FLAG_SYNC)
 *   6.11        BLK_FEAT_SYNCHRONOUS in the queue limits
 * and, from 6.3, only while no backing device is attached (rz_set_synchronous()).
 * set_capacity_and_notify() is in 5.11 and in late 5.10.y only; Kbuild looks
 * for it (RZ_HAVE_SET_CAPACITY_AND_NOTIFY).
 * zstd's interface changed in 5.16: compat_zstd.h, for ramzswap_zstd.c only.
 * I/O accounting: bio_start_io_acct() throughout; for ->rw_page(), which has
 * no bio, bdev_start_io_acct() from 5.19 (RZ_HAVE_BDEV_IO_ACCT), else
 * disk_start_io_acct().  Bio-based queues account only with QUEUE_FLAG_IO_STAT
 * (BLK_FEAT_IO_STAT from 6.11) set.
 */
#ifndef _RAMZSWAP_COMPAT_H_
#define _RAMZSWAP_COMPAT_H_

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 10, 0)
#error "ramzswap needs Linux 5.10 or later"
#endif

/* ---- short-lived page mappings ---------------------------------------- */

#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 11, 0)
#define rz_kmap_local(page)	kmap_local_page(page)
#define rz_kunmap_local(addr)	kunmap_local(addr)
#else
/* the only short-lived mapping these kernels have */
#define rz_kmap_local		kmap_atomic
#define rz_kunmap_local		kunmap_atomic
#endif

/* ---- allocation --------------------------------------------------------- */

/* One zeroed object of the type @p points to, vmalloc'ed if need be. */
#ifdef kvzalloc_obj
#define rz_kvzalloc_obj(p)	kvzalloc_obj(*(p), GFP_KERNEL)
#else
#define rz_kvzalloc_obj(p)	kvzalloc(sizeof(*(p)), GFP_KERNEL)
#endif
#ifdef kzalloc_obj
#define rz_kzalloc_obj(p)	kzalloc_obj(*(p), GFP_KERNEL)
#else
#define rz_kzalloc_obj(p)	kzalloc(sizeof(*(p)), GFP_KERNEL)
#endif

/* ---- bios --------------------------------------------------------------- */

static inline struct gendisk *rz_bio_disk(struct bio *bio)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 12, 0)
	return bio->bi_bdev->bd_disk;
#else
	return bio->bi_disk;
#endif
}

/* A write bio of one segment for @bdev, from the global pool (may sleep). */
static inline struct bio *rz_bio_alloc_write(struct block_device *bdev)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 18, 0)
	return bio_alloc(bdev, 1, REQ_OP_WRITE, GFP_NOIO);
#else
	struct bio *bio = bio_alloc(GFP_NOIO, 1);

	bio_set_dev(bio, bdev);
	bio->bi_opf = REQ_OP_WRITE;
	return bio;
#endif
}

/* A clone of @src sharing its pages, addressed to @bdev. */
static inline struct bio *rz_bio_clone(struct bio *src,
				       struct block_device *bdev,
				       struct bio_set *bs)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 18, 0)
	return bio_alloc_clone(bdev, src, GFP_NOIO, bs);
#else
	struct bio *bio = bio_clone_fast(src, GFP_NOIO, bs);

	if (bio)
		bio_set_dev(bio, bdev);
	return bio;
#endif
}

/* ---- I/O accounting ---------------------------------------------------- */

#ifdef RZ_HAVE_RW_PAGE
/* Account one page of ->rw_page() I/O; the value is for rz_page_io_end(). */
static inline unsigned long rz_page_io_start(struct block_device *bdev,
					     bool write)
{
	unsigned int op = write ? REQ_OP_WRITE : REQ_OP_READ;

#ifdef RZ_HAVE_BDEV_IO_ACCT
	return bdev_start_io_acct(bdev, PAGE_SIZE >> SECTOR_SHIFT, op, jiffies);
#else
	return disk_start_io_acct(bdev->bd_disk, PAGE_SIZE >> SECTOR_SHIFT, op);
#endif
}

static inline void rz_page_io_end(struct block_device *bdev, bool write,
				  unsigned long start)
{
	unsigned int op = write ? REQ_OP_WRITE : REQ_OP_READ;

#ifdef RZ_HAVE_BDEV_IO_ACCT
	bdev_end_io_acct(bdev, op, start);
#else
	disk_end_io_acct(bdev->bd_disk, op, start);
#endif
}
#endif

/* ---- gendisk lifetime --------------------------------------------------- */

#ifdef GENHD_FL_NO_PART_SCAN
#define RZ_GENHD_NO_PART	GENHD_FL_NO_PART_SCAN
#else
#define RZ_GENHD_NO_PART	GENHD_FL_NO_PART
#endif

/*
 * A bio-based disk with @bsize logical and physical blocks, non-rotational,
 * taking discards and write-zeroes of any size, its I/O accounted in
 * /proc/diskstats.  Returns an ERR_PTR on failure.
 */
static inline struct gendisk *rz_alloc_disk(unsigned int bsize)
{
	struct gendisk *disk;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct queue_limits lim = {
		.logical_block_size	= bsize,
		.physical_block_size	= bsize,
		.io_min			= bsize,
		.io_opt			= bsize,
		.max_hw_discard_sectors	= UINT_MAX,
		.max_write_zeroes_sectors = UINT_MAX,
		.discard_granularity	= bsize,
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
		.features		= BLK_FEAT_SYNCHRONOUS | BLK_FEAT_IO_STAT,
#endif
	};

	disk = blk_alloc_disk(&lim, NUMA_NO_NODE);
	if (IS_ERR(disk))
		return disk;
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 11, 0)
	blk_queue_flag_set(QUEUE_FLAG_NONROT, disk->queue);
	blk_queue_flag_clear(QUEUE_FLAG_ADD_RANDOM, disk->queue);
	blk_queue_flag_set(QUEUE_FLAG_IO_STAT, disk->queue);
#ifdef RZ_HAVE_QUEUE_FLAG_SYNC
	blk_queue_flag_set(QUEUE_FLAG_SYNCHRONOUS, disk->queue);
#endif
#endif
#else /* before 6.9 */
	struct request_queue *q;

#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 14, 0)
	disk = blk_alloc_disk(NUMA_NO_NODE);
	if (!disk)
		return ERR_PTR(-ENOMEM);
	q = disk->queue;
#else
	q = blk_alloc_queue(NUMA_NO_NODE);
	if (!q)
		return ERR_PTR(-ENOMEM);
	disk = alloc_disk(1);
	if (!disk) {
		blk_cleanup_queue(q);
		return ERR_PTR(-ENOMEM);
	}
	disk->queue = q;
#endif
	blk_queue_logical_block_size(q, bsize);
	blk_queue_physical_block_size(q, bsize);
	blk_queue_io_min(q, bsize);
	blk_queue_io_opt(q, bsize);
	q->limits.discard_granularity = bsize;
	blk_queue_max_discard_sectors(q, UINT_MAX);
	blk_queue_max_write_zeroes_sectors(q, UINT_MAX);
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 19, 0)
	blk_queue_flag_set(QUEUE_FLAG_DISCARD, q);
#endif
	blk_queue_flag_set(QUEUE_FLAG_NONROT, q);
	blk_queue_flag_clear(QUEUE_FLAG_ADD_RANDOM, q);
	blk_queue_flag_set(QUEUE_FLAG_IO_STAT, q);
#ifdef RZ_HAVE_QUEUE_FLAG_SYNC
	blk_queue_flag_set(QUEUE_FLAG_SYNCHRONOUS, q);
#endif
#endif
	disk->flags |= RZ_GENHD_NO_PART;
	return disk;
}

/*
 * Whether swap may treat the disk as synchronous, read by swapon.  From 6.3
 * swap writes a page to a synchronous disk with submit_bio_wait(), so a
 * disk that may pass pages on to a slower one must not claim it: reclaim
 * would wait for every page forwarded.  Before 6.3 the ->rw_page() method
 * is what makes a disk synchronous and it refuses what needs the backing
 * device, which swap then sends as a bio it does not wait for: nothing to
 * change there.  Called before the disk has a capacity (no I/O yet).
 */
static inline int rz_set_synchronous(struct gendisk *disk, bool sync)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
	struct queue_limits lim = queue_limits_start_update(disk->queue);

	if (sync)
		lim.features |= BLK_FEAT_SYNCHRONOUS;
	else
		lim.features &= ~BLK_FEAT_SYNCHRONOUS;
	return queue_limits_commit_update(disk->queue, &lim);
#elif defined(RZ_HAVE_QUEUE_FLAG_SYNC)
	if (sync)
		blk_queue_flag_set(QUEUE_FLAG_SYNCHRONOUS, disk->queue);
	else
		blk_queue_flag_clear(QUEUE_FLAG_SYNCHRONOUS, disk->queue);
	return 0;
#else
	return 0;
#endif
}

static inline int rz_add_disk(struct gendisk *disk,
			      const struct attribute_group **groups)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 15, 0)
	return device_add_disk(NULL, disk, groups);
#else
	device_add_disk(NULL, disk, groups);
	return 0;
#endif
}

/* Set the disk's size and tell user space (a uevent) that it changed. */
static inline void rz_set_capacity(struct gendisk *disk, sector_t sectors)
{
#ifdef RZ_HAVE_SET_CAPACITY_AND_NOTIFY
	set_capacity_and_notify(disk, sectors);
#else
	/* 5.10 before the backport: the block device's size follows too */
	set_capacity_revalidate_and_notify(disk, sectors, true);
#endif
}

/*
 * Has @bdev's disk been deleted (hot-unplugged, its driver gone)?  Its I/O
 * fails from then on.  Kernels without disk_live() cannot tell: their I/O
 * failing is what gives the backing device up there.
 */
static inline bool rz_bdev_dead(struct block_device *bdev)
{
#ifdef RZ_HAVE_DISK_LIVE
	return !disk_live(bdev->bd_disk);
#else
	return false;
#endif
}

/* Does @bdev take discards?  (5.19 asks for the size, earlier the flag.) */
static inline bool rz_bdev_can_discard(struct block_device *bdev)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 19, 0)
	return bdev_max_discard_sectors(bdev) > 0;
#else
	return blk_queue_discard(bdev_get_queue(bdev));
#endif
}

/* Discard @nr sectors of @bdev from @sector and wait; 0 or an error. */
static inline int rz_bdev_discard(struct block_device *bdev, sector_t sector,
				  sector_t nr)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 19, 0)
	return blkdev_issue_discard(bdev, sector, nr, GFP_NOIO);
#else
	return blkdev_issue_discard(bdev, sector, nr, GFP_NOIO, 0);
#endif
}

/* Take a disk from rz_add_disk() away: no I/O, no sysfs access after this. */
static inline void rz_del_disk(struct gendisk *disk)
{
	del_gendisk(disk);
}

/* Free a disk from rz_alloc_disk(), after rz_del_disk() if it was added. */
static inline void rz_put_disk(struct gendisk *disk)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 0, 0)
	put_disk(disk);
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(5, 14, 0)
	blk_cleanup_disk(disk);
#else
	blk_cleanup_queue(disk->queue);
	put_disk(disk);
#endif
}

/* ---- the backing device ------------------------------------------------- */

struct rz_bdev_ref {
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct file *file;
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	struct bdev_handle *handle;
#else
	struct block_device *bdev;
#endif
};

/* The device number of the block device at @path, without opening it. */
static inline int rz_path_devt(const char *path, dev_t *devt)
{
#ifdef RZ_HAVE_LOOKUP_BDEV_DEVT
	return lookup_bdev(path, devt);
#else
	/* 5.10: lookup_bdev() returns a referenced block_device */
	struct block_device *bdev = lookup_bdev(path);

	if (IS_ERR(bdev))
		return PTR_ERR(bdev);
	*devt = bdev->bd_dev;
	bdput(bdev);
	return 0;
#endif
}

/* Open @path for exclusive read-write use by @holder. */
static inline struct block_device *rz_bdev_open(const char *path, void *holder,
						struct rz_bdev_ref *ref)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	ref->file = bdev_file_open_by_path(path, BLK_OPEN_READ | BLK_OPEN_WRITE,
					   holder, NULL);
	if (IS_ERR(ref->file))
		return ERR_CAST(ref->file);
	return file_bdev(ref->file);
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	ref->handle = bdev_open_by_path(path, BLK_OPEN_READ | BLK_OPEN_WRITE,
					holder, NULL);
	if (IS_ERR(ref->handle))
		return ERR_CAST(ref->handle);
	return ref->handle->bdev;
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	ref->bdev = blkdev_get_by_path(path, BLK_OPEN_READ | BLK_OPEN_WRITE,
				       holder, NULL);
	return ref->bdev;
#else
	ref->bdev = blkdev_get_by_path(path, FMODE_READ | FMODE_WRITE |
				       FMODE_EXCL, holder);
	return ref->bdev;
#endif
}

static inline void rz_bdev_close(struct rz_bdev_ref *ref, void *holder)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
	bdev_fput(ref->file);
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	fput(ref->file);
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	bdev_release(ref->handle);
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	blkdev_put(ref->bdev, holder);
#else
	blkdev_put(ref->bdev, FMODE_READ | FMODE_WRITE | FMODE_EXCL);
#endif
}

static inline sector_t rz_bdev_nr_sectors(struct block_device *bdev)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 16, 0)
	return bdev_nr_sectors(bdev);
#else
	return i_size_read(bdev->bd_inode) >> SECTOR_SHIFT;
#endif
}

#endif /* _RAMZSWAP_COMPAT_H_ */
