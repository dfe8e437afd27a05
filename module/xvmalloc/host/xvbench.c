// SPDX-License-Identifier: GPL-2.0-only
/*
 * xvbench: the xvmalloc allocator (its user-space build) used the way the
 * ramzswap driver uses it, on a recorded distribution of compressed sizes.
 *
 *   xvbench xv|malloc SIZES NSLOTS CHURN SEED
 *
 * SIZES is a file of "size count" lines: the stored size of every page of a
 * data set (0: same-filled, nothing stored; PAGE_SIZE: stored whole in a raw
 * page; else an object of that many bytes).  NSLOTS swap slots are filled
 * with sizes drawn from it; then CHURN times a random slot is freed and
 * written again; then a random half of the slots is freed.  Like the driver,
 * xv runs compaction when xv_compact_wanted() says so after a free, and
 * stores a size above SPLIT_LEN as the driver does: whole if a free block
 * takes it, else split over the largest free block and a second object,
 * else in a new page.  Splits are counted.
 * "malloc" replays the same operations with the C library's malloc/free, as
 * a reference for speed.
 *
 * Prints one JSON line with, after each phase, the bytes stored, the bytes
 * the allocator holds, and cumulative operation counts and CPU seconds
 * (compaction counted apart; drawing sizes is included but costs a few ns)
 * and splits.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xvmalloc.h"

/*
 * The driver's split of a large compressed page (ramzswap_drv.h): above
 * SPLIT_LEN bytes, when no free block takes it whole, the first object
 * fills the largest free block that takes SPLIT_HEAD bytes of it and leaves
 * SPLIT_TAIL for the second; the first starts with a link to the second.
 */
#define SPLIT_LEN	(PAGE_SIZE / 8 * 3)
#define SPLIT_HEAD	(PAGE_SIZE / 16)
#define SPLIT_TAIL	64

struct link {
	struct page *page;
	u16 off;
	u16 len;
};

#define LINK_SIZE	((u32)sizeof(struct link))

struct slot {
	struct page *page;	/* xv: object page or raw page */
	void *ptr;		/* malloc */
	u32 off;
	u32 size;		/* 0: empty */
	struct page *page2;	/* xv, split: the second object */
	u32 off2;
	u32 len1;		/* xv, split: bytes of the first object */
};

struct bench {
	int use_xv;
	struct xv_pool *pool;
	struct slot *slots;
	unsigned long nslots;
	unsigned long *cum;	/* cumulative counts of the size distribution */
	u32 *vals;
	unsigned long nvals, total;
	unsigned long long rng;
	unsigned long long ops, stored;
	double op_s, compact_s, phase_compact;
	unsigned long compactions;
	unsigned long splits;
};

/* CPU time of this process: other guests and builds on the host do not count */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static unsigned long long next_rand(struct bench *b)
{
	/* xorshift64* */
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 0x2545f4914f6cdd1dULL;
}

static u32 draw(struct bench *b)
{
	unsigned long r = next_rand(b) % b->total, lo = 0, hi = b->nvals - 1;

	while (lo < hi) {
		unsigned long mid = (lo + hi) / 2;

		if (b->cum[mid] > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return b->vals[lo];
}

static bool move_obj(void *ctx, u32 tag, struct page *src_page, u32 src_off,
		     struct page *dst_page, u32 dst_off)
{
	struct bench *b = ctx;
	struct slot *s;

	if (tag >= b->nslots)
		return false;
	s = &b->slots[tag];
	if (!s->size || s->size >= PAGE_SIZE)
		return false;
	if (s->page == src_page && s->off == src_off) {
		xv_copy_object(dst_page, dst_off, src_page, src_off,
			       s->page2 ? s->len1 : s->size);
		s->page = dst_page;
		s->off = dst_off;
		return true;
	}
	if (s->page2 && s->page2 == src_page && s->off2 == src_off) {
		xv_copy_object(dst_page, dst_off, src_page, src_off,
			       s->size + LINK_SIZE - s->len1);
		s->page2 = dst_page;
		s->off2 = dst_off;
		return true;
	}
	return false;
}

/* An object of @size bytes for slot @i, placed as the driver places it. */
static int store_object(struct bench *b, unsigned long i, u32 size)
{
	struct slot *s = &b->slots[i];
	u32 len;

	s->page2 = NULL;
	if (size > SPLIT_LEN) {
		if (!xv_malloc_part(b->pool, size, size, (u32)i, &s->page,
				    &s->off, &len))
			return 0;
		if (!xv_malloc_part(b->pool, LINK_SIZE + SPLIT_HEAD,
				    LINK_SIZE + size - SPLIT_TAIL, (u32)i,
				    &s->page, &s->off, &len)) {
			s->len1 = len;
			if (xv_malloc(b->pool, size + LINK_SIZE - len, (u32)i,
				      &s->page2, &s->off2, 0)) {
				xv_free(b->pool, s->page, s->off);
				return -1;
			}
			b->splits++;
			return 0;
		}
	}
	return xv_malloc(b->pool, size, (u32)i, &s->page, &s->off, 0);
}

static int store(struct bench *b, unsigned long i, u32 size)
{
	struct slot *s = &b->slots[i];
	int err = 0;

	if (!size)
		return 0;	/* same-filled: the slot keeps only the word */
	if (!b->use_xv) {
		s->ptr = malloc(size);
		if (!s->ptr)
			return -1;
	} else if (size >= PAGE_SIZE) {
		s->page = xv_alloc_raw(b->pool, 0, &err);
		if (!s->page)
			return -1;
	} else {
		err = store_object(b, i, size);
		if (err)
			return -1;
	}
	b->ops++;
	s->size = size;
	b->stored += size;
	return 0;
}

static void release(struct bench *b, unsigned long i)
{
	struct slot *s = &b->slots[i];
	double t;

	if (!s->size)
		return;
	if (!b->use_xv)
		free(s->ptr);
	else if (s->size >= PAGE_SIZE)
		xv_free_raw(b->pool, s->page);
	else
		xv_free(b->pool, s->page, s->off);
	if (b->use_xv && s->size < PAGE_SIZE && s->page2)
		xv_free(b->pool, s->page2, s->off2);
	b->ops++;
	b->stored -= s->size;
	s->size = 0;
	if (b->use_xv && xv_compact_wanted(b->pool)) {
		t = now();
		xv_compact(b->pool, move_obj, b);
		b->compact_s += now() - t;
		b->compactions++;
	}
}

static unsigned long long held_bytes(struct bench *b)
{
	if (b->use_xv)
		return xv_get_total_size_bytes(b->pool);
	{
		struct mallinfo2 mi = mallinfo2();

		return mi.arena + mi.hblkhd;
	}
}

/* Ends a phase that began at @start: its CPU time, compaction apart, goes to op_s. */
static void phase(struct bench *b, const char *name, double start, int last)
{
	b->op_s += now() - start - (b->compact_s - b->phase_compact);
	b->phase_compact = b->compact_s;
	printf("\"%s\":{\"stored\":%llu,\"held\":%llu,\"ops\":%llu,\"op_s\":%.6f,"
	       "\"compact_s\":%.6f,\"compactions\":%lu,\"splits\":%lu}%s", name,
	       b->stored, held_bytes(b), b->ops, b->op_s, b->compact_s,
	       b->compactions, b->splits, last ? "" : ",");
}

static int load_sizes(struct bench *b, const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned long size, count, cap = 0;

	if (!f)
		return -1;
	while (fscanf(f, "%lu %lu", &size, &count) == 2) {
		if (size > PAGE_SIZE || !count)
			continue;
		if (b->nvals == cap) {
			cap = cap ? 2 * cap : 256;
			b->vals = realloc(b->vals, cap * sizeof(*b->vals));
			b->cum = realloc(b->cum, cap * sizeof(*b->cum));
			if (!b->vals || !b->cum)
				return -1;
		}
		b->total += count;
		b->vals[b->nvals] = (u32)size;
		b->cum[b->nvals++] = b->total;
	}
	fclose(f);
	return b->nvals ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct bench b = { 0 };
	unsigned long i, churn;
	double t;

	if (argc != 6 || (strcmp(argv[1], "xv") && strcmp(argv[1], "malloc"))) {
		fprintf(stderr, "usage: xvbench xv|malloc SIZES NSLOTS CHURN SEED\n");
		return 2;
	}
	b.use_xv = !strcmp(argv[1], "xv");
	b.nslots = strtoul(argv[3], NULL, 10);
	churn = strtoul(argv[4], NULL, 10);
	b.rng = strtoull(argv[5], NULL, 10) * 2 + 1;
	if (load_sizes(&b, argv[2]) || !b.nslots) {
		fprintf(stderr, "xvbench: no sizes in %s\n", argv[2]);
		return 2;
	}
	b.slots = calloc(b.nslots, sizeof(*b.slots));
	if (b.use_xv)
		b.pool = xv_create_pool();
	if (!b.slots || (b.use_xv && !b.pool))
		return 3;

	printf("{\"allocator\":\"%s\",\"page_size\":%lu,\"slots\":%lu,\"churn\":%lu,",
	       argv[1], (unsigned long)PAGE_SIZE, b.nslots, churn);
	t = now();
	for (i = 0; i < b.nslots; i++)
		if (store(&b, i, draw(&b)))
			goto nomem;
	phase(&b, "fill", t, 0);
	t = now();
	for (i = 0; i < churn; i++) {
		unsigned long k = next_rand(&b) % b.nslots;

		release(&b, k);
		if (store(&b, k, draw(&b)))
			goto nomem;
	}
	phase(&b, "churn", t, 0);
	t = now();
	for (i = 0; i < b.nslots; i++)
		if (next_rand(&b) & 1)
			release(&b, i);
	phase(&b, "half", t, 1);
	printf("}\n");
	for (i = 0; i < b.nslots; i++)
		release(&b, i);
	if (b.use_xv)
		xv_destroy_pool(b.pool);
	return 0;
nomem:
	fprintf(stderr, "xvbench: allocation failed at slot %lu\n", i);
	return 3;
}
