/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xvmalloc internals: block layout, free list geometry, the pool.
 *
 * A page of the pool is a sequence of blocks.  Every block starts with an
 * 8 byte header, is 4 byte aligned and at least XV_MIN_BLOCK long:
 *
 *   word 0 (u32): size in 4 byte units (15 bits), offset of the previous
 *                 block in 4 byte units (15 bits), FREE flag
 *   word 1 (u32): allocated block: the owner's tag
 *                 free block: byte offsets of the next and previous free
 *                 blocks of the same list (u16 each)
 *   free block only: pointers to the pages of the next and previous free
 *                 blocks, unaligned, right after the header
 *
 * Adjacent free blocks are always merged, so a page whose blocks are all
 * free is one block of PAGE_SIZE and goes back to the system.
 *
 * Free lists: one list per XV_LIST_GRAIN bytes of block size (every 4 bytes
 * with 4 KiB pages, so a list holds blocks of one size and the first
 * non-empty list at or above a request is a best fit).  A bitmap with one
 * bit per list, and a top-level word with one bit per bitmap word, find
 * that list in two __ffs() calls.
 *
 * page->private holds the bytes allocated in the page and two flags;
 * page->lru links the page into one of XV_NR_BUCKETS lists by how full it
 * is, which is how compaction finds the emptiest pages.
 *
 * Spare pages: a caller that may sleep can put up to XV_SPARE_PAGES empty
 * pages aside (xv_add_spare()) for later allocations that may not.  They
 * count as pool memory and against the cap, and go back to the system when
 * the pool holds nothing else.
 */
#ifndef _XVMALLOC_INT_H_
#define _XVMALLOC_INT_H_

#include <linux/bitops.h>
#include <linux/highmem.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/spinlock.h>
/* the module's compat.h; the host build puts a stand-in first on the path */
#include "compat.h"

#include "xvmalloc.h"

#define XV_ALIGN_SHIFT		2
#define XV_ALIGN		BIT(XV_ALIGN_SHIFT)
#define XV_HDR_SIZE		8U
/* header + the two page pointers of a free block */
#define XV_MIN_BLOCK		ALIGN(XV_HDR_SIZE + 2 * sizeof(void *), XV_ALIGN)

#define XV_UNIT_BITS		15
#define XV_UNIT_MASK		((1U << XV_UNIT_BITS) - 1)
#define XV_HDR_FREE		BIT(30)

#if BITS_PER_LONG == 64
#define XV_LOG_BPL		6
#else
#define XV_LOG_BPL		5
#endif

/* The list bitmap must fit in BITS_PER_LONG words of BITS_PER_LONG bits. */
#if PAGE_SHIFT - 2 * XV_LOG_BPL > XV_ALIGN_SHIFT
#define XV_LIST_SHIFT		(PAGE_SHIFT - 2 * XV_LOG_BPL)
#else
#define XV_LIST_SHIFT		XV_ALIGN_SHIFT
#endif
#define XV_LIST_GRAIN		BIT(XV_LIST_SHIFT)
#define XV_NR_LISTS		(PAGE_SIZE >> XV_LIST_SHIFT)
#define XV_NR_WORDS		(XV_NR_LISTS / BITS_PER_LONG)

#define XV_NR_BUCKETS		16

/* page->private: allocated bytes in the low bits, then flags */
#define XV_PG_USED_MASK		((1UL << (PAGE_SHIFT + 1)) - 1)
#define XV_PG_ISOLATED		BIT(PAGE_SHIFT + 1)
#define XV_PG_TRIED		BIT(PAGE_SHIFT + 2)

/* compaction starts below START and stops at or above STOP percent used */
#define XV_COMPACT_START_PCT	92
#define XV_COMPACT_STOP_PCT	95
#define XV_COMPACT_MIN_PAGES	16
#define XV_COMPACT_MIN_FREE	8	/* pages' worth of free space */
#define XV_COMPACT_MAX_FAILS	8	/* pages that could not be emptied */

/* xv_add_spare() keeps this many empty pages for allocations that cannot sleep */
#define XV_SPARE_PAGES		2

struct xv_flink {
	struct page *page;
	u16 offset;
};

struct xv_pool {
	spinlock_t lock;		/* protects all of the pool */
	unsigned long flbitmap;
	unsigned long slbitmap[XV_NR_WORDS];
	struct xv_flink freelist[XV_NR_LISTS];
	struct list_head buckets[XV_NR_BUCKETS];
	struct list_head isolated;
	struct list_head spare;		/* empty pages kept for a refill */
	unsigned long nr_spare;
	unsigned long obj_pages;
	unsigned long raw_pages;
	unsigned long reserved;		/* pages being allocated */
	unsigned long limit;
	unsigned long used_bytes;
	unsigned long nr_objs;
	unsigned long compact_moved;
	unsigned long compact_freed;
	u64 compact_mark;		/* free bytes after the last pass */
};

#endif /* _XVMALLOC_INT_H_ */
