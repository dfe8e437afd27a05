// SPDX-License-Identifier: GPL-2.0-only
/*
 * Page supply and test hooks for the user-space build of xvmalloc.
 *
 * Pages are page-aligned heap blocks tracked in a registry, so a test can
 * see how many pages the allocator holds and which ones.  Mappings are
 * checked to be released in the reverse order they were taken, as
 * kmap_local requires.  xvu_fail_allocs(n) makes the next n page
 * allocations fail.
 */
#include <stdio.h>

#include <xv_host.h>
#include "xvmalloc_int.h"

#define MAP_STACK_MAX	16

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct page *reg_head;
static unsigned long reg_count, serial_next = 1, warnings, fail_next;
static unsigned long allocs_total;
static __thread void *map_stack[MAP_STACK_MAX];
static __thread int map_depth;
static __thread unsigned long map_errors;

void xvu_warn(const char *file, int line)
{
	fprintf(stderr, "xvmalloc warning at %s:%d\n", file, line);
	__atomic_add_fetch(&warnings, 1, __ATOMIC_RELAXED);
}

struct page *xvu_alloc_page(gfp_t flags)
{
	struct page *page;

	(void)flags;
	pthread_mutex_lock(&reg_lock);
	if (fail_next) {
		fail_next--;
		pthread_mutex_unlock(&reg_lock);
		return NULL;
	}
	pthread_mutex_unlock(&reg_lock);

	page = calloc(1, sizeof(*page));
	if (!page)
		return NULL;
	if (posix_memalign(&page->mem, PAGE_SIZE, PAGE_SIZE)) {
		free(page);
		return NULL;
	}
	/* fresh pages hold garbage, as in the kernel */
	memset(page->mem, 0xa5, PAGE_SIZE);

	pthread_mutex_lock(&reg_lock);
	page->serial = serial_next++;
	page->reg_next = reg_head;
	if (reg_head)
		reg_head->reg_prev = page;
	reg_head = page;
	reg_count++;
	allocs_total++;
	pthread_mutex_unlock(&reg_lock);
	return page;
}

void xvu_free_page(struct page *page)
{
	pthread_mutex_lock(&reg_lock);
	if (page->private || page->lru.next)
		warnings++;	/* pages must go back clean and unlinked */
	if (page->reg_prev)
		page->reg_prev->reg_next = page->reg_next;
	else
		reg_head = page->reg_next;
	if (page->reg_next)
		page->reg_next->reg_prev = page->reg_prev;
	reg_count--;
	pthread_mutex_unlock(&reg_lock);
	memset(page->mem, 0x5a, PAGE_SIZE);	/* catch use after free */
	free(page->mem);
	free(page);
}

void *xvu_map(struct page *page)
{
	if (map_depth >= MAP_STACK_MAX) {
		map_errors++;
		return page->mem;
	}
	map_stack[map_depth++] = page->mem;
	return page->mem;
}

void xvu_unmap(void *addr)
{
	if (!map_depth || map_stack[map_depth - 1] != addr) {
		map_errors++;
		return;
	}
	map_depth--;
}

/* ---- hooks for the tests ---- */

unsigned long xvu_live_pages(void)
{
	return reg_count;
}

unsigned long xvu_allocs_total(void)
{
	return allocs_total;
}

/* Serials of live pages into @out (at most @max); returns the count. */
unsigned long xvu_live_page_serials(unsigned long *out, unsigned long max)
{
	unsigned long n = 0;
	struct page *p;

	pthread_mutex_lock(&reg_lock);
	for (p = reg_head; p && n < max; p = p->reg_next)
		out[n++] = p->serial;
	pthread_mutex_unlock(&reg_lock);
	return n;
}

unsigned long xvu_page_serial(struct page *page)
{
	return page->serial;
}

void *xvu_page_mem(struct page *page)
{
	return page->mem;
}

void xvu_fail_allocs(unsigned long n)
{
	pthread_mutex_lock(&reg_lock);
	fail_next = n;
	pthread_mutex_unlock(&reg_lock);
}

unsigned long xvu_warnings(void)
{
	return warnings;
}

/* Open mappings plus mapping-order errors seen by this thread. */
long xvu_map_balance(void)
{
	return map_depth + (long)map_errors * 1000;
}

unsigned long xvu_page_size(void)
{
	return PAGE_SIZE;
}

unsigned long xvu_hdr_size(void)
{
	return XV_HDR_SIZE;
}

unsigned long xvu_min_block(void)
{
	return XV_MIN_BLOCK;
}

unsigned long xvu_align(void)
{
	return XV_ALIGN;
}

unsigned long xvu_list_grain(void)
{
	return XV_LIST_GRAIN;
}

unsigned long xvu_stats_size(void)
{
	return sizeof(struct xv_pool_stats);
}
