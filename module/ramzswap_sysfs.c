// SPDX-License-Identifier: GPL-2.0-only
/*
 * ramzswap: settings and statistics in /sys/block/ramzswapN/.
 *
 * memlimit and backing_swap are set first; writing disksize initialises the
 * device; after that those three answer EBUSY until reset.  A rejected
 * write returns EINVAL (or the error of opening the backing device) and
 * changes nothing.  The ABI is described in
 * Documentation/ABI/testing/sysfs-block-ramzswap.
 */
#include <linux/ctype.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/limits.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "ramzswap_drv.h"

static struct rz_dev *rz_dev_of(struct device *d)
{
	return dev_to_disk(d)->private_data;
}

/*
 * Copy a sysfs write into @out (size @size) without its one trailing
 * newline.  Fails on empty input, embedded NULs or newlines, or overflow.
 */
static int rz_get_arg(const char *buf, size_t len, char *out, size_t size)
{
	if (len && buf[len - 1] == '\n')
		len--;
	if (!len || len >= size || strnlen(buf, len) != len ||
	    memchr(buf, '\n', len))
		return -EINVAL;
	memcpy(out, buf, len);
	out[len] = '\0';
	return 0;
}

/* Decimal digits only: no sign, no blanks, no base prefix. */
static int rz_parse_u64(const char *s, u64 *val)
{
	const char *p;

	for (p = s; *p; p++)
		if (!isdigit(*p))
			return -EINVAL;
	/* kstrtoull() reports overflow as -ERANGE */
	return kstrtoull(s, 10, val) ? -EINVAL : 0;
}

/* A plain decimal number (see rz_parse_u64()) up to @max. */
static int rz_parse_number(const char *buf, size_t len, u64 max, u64 *val)
{
	char arg[32];
	int err;

	err = rz_get_arg(buf, len, arg, sizeof(arg));
	if (!err)
		err = rz_parse_u64(arg, val);
	return err || *val > max ? -EINVAL : 0;
}

/* Bytes, with an optional K, M, G or T suffix (powers of 1024). */
static int rz_parse_size(const char *buf, size_t len, u64 *val)
{
	static const char units[] = "kmgt";
	const char *unit;
	char arg[32];
	unsigned int shift = 0;
	size_t n;
	int err;

	err = rz_get_arg(buf, len, arg, sizeof(arg));
	if (err)
		return err;
	n = strlen(arg);
	/* K is 2^10, M 2^20 and so on: ten bits per step along "kmgt" */
	unit = strchr(units, tolower(arg[n - 1]));
	if (unit && *unit)
		shift = 10 * (unit - units + 1);
	if (shift) {
		if (n == 1)
			return -EINVAL;
		arg[n - 1] = '\0';
	}
	err = rz_parse_u64(arg, val);
	if (err)
		return err;
	if (*val > (U64_MAX >> shift))
		return -EINVAL;
	*val <<= shift;
	return 0;
}

/* A size setting: parsed, then applied with dev->lock held before init. */
static ssize_t rz_size_store(struct device *d, const char *buf, size_t len,
			     int (*apply)(struct rz_dev *dev, u64 val))
{
	struct rz_dev *dev = rz_dev_of(d);
	u64 val;
	int err;

	err = rz_parse_size(buf, len, &val);
	if (err)
		return err;
	mutex_lock(&dev->lock);
	err = dev->init_done ? -EBUSY : apply(dev, val);
	mutex_unlock(&dev->lock);
	return err ? err : len;
}

/*
 * A read-write size setting: reads show the u64 field of struct rz_dev at
 * @field, writes go through rz_size_store() to @apply.
 */
struct rz_size_attribute {
	struct device_attribute attr;
	size_t field;
	int (*apply)(struct rz_dev *dev, u64 val);
};

static ssize_t rz_size_attr_show(struct device *d,
				 struct device_attribute *attr, char *buf)
{
	struct rz_size_attribute *sa =
		container_of(attr, struct rz_size_attribute, attr);
	u64 *val = (u64 *)((char *)rz_dev_of(d) + sa->field);

	return sysfs_emit(buf, "%llu\n", READ_ONCE(*val));
}

static ssize_t rz_size_attr_store(struct device *d,
				  struct device_attribute *attr,
				  const char *buf, size_t len)
{
	struct rz_size_attribute *sa =
		container_of(attr, struct rz_size_attribute, attr);

	return rz_size_store(d, buf, len, sa->apply);
}

static struct rz_size_attribute rz_attr_disksize = {
	.attr	= __ATTR(disksize, 0644, rz_size_attr_show, rz_size_attr_store),
	.field	= offsetof(struct rz_dev, disksize),
	.apply	= rz_dev_init,
};

static int rz_set_memlimit(struct rz_dev *dev, u64 limit)
{
	/* a limit must leave room for at least one page */
	if (limit && (limit < PAGE_SIZE || limit > rz_max_disksize()))
		return -EINVAL;
	dev->memlimit = round_down(limit, PAGE_SIZE);
	return 0;
}

static struct rz_size_attribute rz_attr_memlimit = {
	.attr	= __ATTR(memlimit, 0644, rz_size_attr_show, rz_size_attr_store),
	.field	= offsetof(struct rz_dev, memlimit),
	.apply	= rz_set_memlimit,
};

static ssize_t backing_swap_show(struct device *d,
				 struct device_attribute *attr, char *buf)
{
	struct rz_dev *dev = rz_dev_of(d);
	ssize_t ret;

	mutex_lock(&dev->lock);
	ret = sysfs_emit(buf, "%s\n",
			 dev->backing_path ? dev->backing_path : "");
	mutex_unlock(&dev->lock);
	return ret;
}

static ssize_t backing_swap_store(struct device *d,
				  struct device_attribute *attr,
				  const char *buf, size_t len)
{
	struct rz_dev *dev = rz_dev_of(d);
	char *path;
	int err;

	path = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!path)
		return -ENOMEM;
	/* an empty line removes the backing device */
	if (len == 0 || (len == 1 && buf[0] == '\n'))
		path[0] = '\0';
	else if (rz_get_arg(buf, len, path, PATH_MAX) || path[0] != '/')
		goto invalid;

	if (path[0]) {
		/* takes dev->lock itself, after opening the device */
		err = rz_backing_open(dev, path);
	} else {
		struct rz_backing_old old = { 0 };

		mutex_lock(&dev->lock);
		err = dev->init_done ? -EBUSY : 0;
		if (!err)
			rz_backing_take(dev, &old);
		mutex_unlock(&dev->lock);
		rz_backing_put(dev, &old);
	}
	kfree(path);
	return err ? err : len;

invalid:
	kfree(path);
	return -EINVAL;
}
static DEVICE_ATTR_RW(backing_swap);

static ssize_t backing_write_limit_show(struct device *d,
					struct device_attribute *attr,
					char *buf)
{
	struct rz_dev *dev = rz_dev_of(d);

	return sysfs_emit(buf, "%lu\n", READ_ONCE(dev->bwl));
}

/* A budget in pages; may be set at any time and restarts the count. */
static ssize_t backing_write_limit_store(struct device *d,
					 struct device_attribute *attr,
					 const char *buf, size_t len)
{
	struct rz_dev *dev = rz_dev_of(d);
	u64 pages;

	if (rz_parse_number(buf, len, LONG_MAX, &pages))
		return -EINVAL;
	mutex_lock(&dev->lock);
	atomic_long_set(&dev->bwl_left, pages);
	WRITE_ONCE(dev->bwl, pages);
	mutex_unlock(&dev->lock);
	return len;
}
static DEVICE_ATTR_RW(backing_write_limit);

/*
 * The compression algorithm for the next init; a read lists what this kernel
 * offers with the current one in brackets.  Fixed while the device holds
 * data, so every page is read back with the algorithm that wrote it.
 * Setting an algorithm sets its default level.
 */
static ssize_t comp_algorithm_show(struct device *d,
				   struct device_attribute *attr, char *buf)
{
	struct rz_dev *dev = rz_dev_of(d);
	char name[RZ_COMP_NAME_MAX];

	/* a copy: a write may change the name while the list is made */
	mutex_lock(&dev->lock);
	strscpy(name, dev->comp_name, sizeof(name));
	mutex_unlock(&dev->lock);
	return rz_backends_show(buf, name);
}

static ssize_t comp_algorithm_store(struct device *d,
				    struct device_attribute *attr,
				    const char *buf, size_t len)
{
	struct rz_dev *dev = rz_dev_of(d);
	char name[RZ_COMP_NAME_MAX];
	int err;

	err = rz_get_arg(buf, len, name, sizeof(name));
	if (err)
		return err;
	mutex_lock(&dev->lock);
	err = dev->init_done ? -EBUSY : rz_set_comp(dev, name, 0);
	mutex_unlock(&dev->lock);
	return err ? err : len;
}
static DEVICE_ATTR_RW(comp_algorithm);

/* The level of the algorithm set, for the next init: 0 is its default. */
static ssize_t comp_level_show(struct device *d,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", READ_ONCE(rz_dev_of(d)->comp_level));
}

static ssize_t comp_level_store(struct device *d,
				struct device_attribute *attr,
				const char *buf, size_t len)
{
	struct rz_dev *dev = rz_dev_of(d);
	u64 level;
	int err;

	if (rz_parse_number(buf, len, INT_MAX, &level))
		return -EINVAL;
	mutex_lock(&dev->lock);
	err = dev->init_done ? -EBUSY : rz_set_comp(dev, NULL, level);
	mutex_unlock(&dev->lock);
	return err ? err : len;
}
static DEVICE_ATTR_RW(comp_level);

static ssize_t reset_store(struct device *d, struct device_attribute *attr,
			   const char *buf, size_t len)
{
	struct rz_backing_old old = { 0 };
	struct rz_dev *dev = rz_dev_of(d);
	char arg[4];
	int err;

	err = rz_get_arg(buf, len, arg, sizeof(arg));
	if (err || strcmp(arg, "1"))
		return -EINVAL;
	mutex_lock(&dev->lock);
	err = rz_dev_reset(dev, &old);
	mutex_unlock(&dev->lock);
	rz_backing_put(dev, &old);
	return err ? err : len;
}
static DEVICE_ATTR_WO(reset);

/*
 * idle and writeback work on the device's slots without dev->lock, which
 * would hold stats and settings up for the whole writeback.  Bit 0 of
 * wb_busy, set under it, keeps reset away and lets one of them run at a
 * time; it is cleared without the lock, as reset only needs to see it set
 * while the work runs.  -EINVAL without a backing device (or, for
 * writeback, with one given up).
 */
static int rz_wb_begin(struct rz_dev *dev, bool need_backing)
{
	int err = 0;

	mutex_lock(&dev->lock);
	if (!dev->init_done || !dev->bdev ||
	    (need_backing &&
	     READ_ONCE(dev->backing_state) != RZ_BACKING_OK))
		err = -EINVAL;
	else if (test_and_set_bit_lock(0, &dev->wb_busy))
		err = -EBUSY;
	mutex_unlock(&dev->lock);
	return err;
}

/* "all": every page held in RAM is idle until it is read, written or freed. */
static ssize_t idle_store(struct device *d, struct device_attribute *attr,
			  const char *buf, size_t len)
{
	struct rz_dev *dev = rz_dev_of(d);
	char arg[4];
	int err;

	if (rz_get_arg(buf, len, arg, sizeof(arg)) || strcmp(arg, "all"))
		return -EINVAL;
	err = rz_wb_begin(dev, false);
	if (err)
		return err;
	rz_mark_idle(dev);
	clear_bit_unlock(0, &dev->wb_busy);
	return len;
}
static DEVICE_ATTR_WO(idle);

/*
 * "idle", "huge" or "huge_idle", then optionally "max_pages=N": move those
 * pages to the backing device; returns when done.  What moved is counted in
 * stats (bdev_wb_pages, bdev_wb_skipped), as zram's bd_stat counts it.
 */
static ssize_t writeback_store(struct device *d, struct device_attribute *attr,
			       const char *buf, size_t len)
{
	static const struct { const char *name; unsigned int mode; } modes[] = {
		{ "idle", RZ_WB_IDLE },
		{ "huge", RZ_WB_HUGE },
		{ "huge_idle", RZ_WB_IDLE | RZ_WB_HUGE },
	};
	struct rz_dev *dev = rz_dev_of(d);
	unsigned long max_pages = ULONG_MAX;
	char arg[48], *opt, *rest;
	unsigned int mode = 0, i;
	int err;

	if (rz_get_arg(buf, len, arg, sizeof(arg)))
		return -EINVAL;
	rest = arg;
	opt = strsep(&rest, " ");
	for (i = 0; i < ARRAY_SIZE(modes); i++)
		if (!strcmp(opt, modes[i].name))
			mode = modes[i].mode;
	if (!mode)
		return -EINVAL;
	if (rest) {
		u64 n;

		if (strncmp(rest, "max_pages=", 10) ||
		    rz_parse_u64(rest + 10, &n) || !n)
			return -EINVAL;
		max_pages = min_t(u64, n, ULONG_MAX);
	}
	err = rz_wb_begin(dev, true);
	if (err)
		return err;
	err = rz_writeback(dev, mode, max_pages);
	clear_bit_unlock(0, &dev->wb_busy);
	return err ? err : len;
}
static DEVICE_ATTR_WO(writeback);

static ssize_t initstate_show(struct device *d, struct device_attribute *attr,
			      char *buf)
{
	struct rz_dev *dev = rz_dev_of(d);

	/* pairs with the release stores in rz_dev_init() and rz_dev_reset() */
	return sysfs_emit(buf, "%d\n", smp_load_acquire(&dev->init_done));
}
static DEVICE_ATTR_RO(initstate);

/* Root only (0400): it tells how much of what was swapped compresses, how well. */
static ssize_t stats_show(struct device *d, struct device_attribute *attr,
			  char *buf)
{
	struct rz_dev *dev = rz_dev_of(d);
	struct rz_stats *st = &dev->stats;
	s64 used = 0, left = -1, stored;
	ssize_t n = 0;

	mutex_lock(&dev->lock);
	if (dev->init_done)
		used = xv_get_total_size_bytes(dev->pool);
	if (dev->bwl)
		left = atomic_long_read(&dev->bwl_left);
	/* read once: orig_data_size must agree with it while pages come and go */
	stored = atomic64_read(&st->pages_stored);

#define RZ_STAT(name, val) \
	(n += sysfs_emit_at(buf, n, "%s %lld\n", name, (long long)(val)))
	RZ_STAT("num_reads", atomic64_read(&st->num_reads));
	RZ_STAT("num_writes", atomic64_read(&st->num_writes));
	RZ_STAT("failed_reads", atomic64_read(&st->failed_reads));
	RZ_STAT("failed_writes", atomic64_read(&st->failed_writes));
	RZ_STAT("invalid_io", atomic64_read(&st->invalid_io));
	RZ_STAT("notify_free", atomic64_read(&st->notify_free));
	RZ_STAT("same_pages", atomic64_read(&st->same_pages));
	RZ_STAT("pages_stored", stored);
	RZ_STAT("pages_expand", atomic64_read(&st->pages_expand));
	RZ_STAT("good_compress", atomic64_read(&st->good_compress));
	RZ_STAT("orig_data_size", stored << PAGE_SHIFT);
	RZ_STAT("compr_data_size", atomic64_read(&st->compr_data_size));
	RZ_STAT("mem_used_total", used);
	RZ_STAT("mem_used_max", max(atomic64_read(&st->mem_used_max), used));
	RZ_STAT("bdev_num_reads", atomic64_read(&st->bdev_num_reads));
	RZ_STAT("bdev_num_writes", atomic64_read(&st->bdev_num_writes));
	RZ_STAT("bdev_num_discards", atomic64_read(&st->bdev_num_discards));
	RZ_STAT("backing_write_limit_left", left);
	RZ_STAT("bdev_wb_pages", atomic64_read(&st->bdev_wb_pages));
	RZ_STAT("bdev_wb_skipped", atomic64_read(&st->bdev_wb_skipped));
#undef RZ_STAT
	n += sysfs_emit_at(buf, n, "backing_state %s\n",
			   rz_backing_state_name(dev));
	/* what the stored pages were compressed with (none before init) */
	if (dev->comp)
		n += sysfs_emit_at(buf, n, "comp_algorithm %s\ncomp_level %d\n",
				   dev->comp->be->name, dev->comp->level);
	mutex_unlock(&dev->lock);
	return n;
}
static DEVICE_ATTR_ADMIN_RO(stats);

static struct attribute *rz_attrs[] = {
	&rz_attr_disksize.attr.attr,
	&rz_attr_memlimit.attr.attr,
	&dev_attr_comp_algorithm.attr,
	&dev_attr_comp_level.attr,
	&dev_attr_backing_swap.attr,
	&dev_attr_backing_write_limit.attr,
	&dev_attr_reset.attr,
	&dev_attr_idle.attr,
	&dev_attr_writeback.attr,
	&dev_attr_initstate.attr,
	&dev_attr_stats.attr,
	NULL,
};

static const struct attribute_group rz_attr_group = {
	.attrs = rz_attrs,
};

const struct attribute_group *rz_attr_groups[] = {
	&rz_attr_group,
	NULL,
};
