/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * User-space stand-ins for the few kernel facilities xvmalloc uses, so the
 * allocator's own source builds unchanged as a shared library for host
 * tests.  The headers the allocator includes (linux/..., compat.h) are
 * found first in this directory, and each of them includes this file.
 * Pages come from xv_host.c, which counts them, counts mappings that are
 * still open, and can make page allocations fail on request.
 */
#ifndef _XV_HOST_H_
#define _XV_HOST_H_

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef unsigned int gfp_t;

#ifndef PAGE_SHIFT
#define PAGE_SHIFT		12
#endif
#define PAGE_SIZE		(1UL << PAGE_SHIFT)
#define BITS_PER_LONG		(__SIZEOF_LONG__ * 8)
#define BIT(n)			(1UL << (n))

#define __GFP_HIGHMEM		0x02u
#define __GFP_NOWARN		0x200u
#define __GFP_IO		0x40u
#define __GFP_RECLAIM		0x400u
#define GFP_NOWAIT		0u
#define GFP_NOIO		(__GFP_RECLAIM)
#define GFP_KERNEL		(__GFP_RECLAIM | __GFP_IO)

#define likely(x)		__builtin_expect(!!(x), 1)
#define unlikely(x)		__builtin_expect(!!(x), 0)
#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile __typeof__(x) *)&(x) = (v))
#define ALIGN(x, a)		(((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))
#define max_t(t, a, b)		((t)(a) > (t)(b) ? (t)(a) : (t)(b))
#define min_t(t, a, b)		((t)(a) < (t)(b) ? (t)(a) : (t)(b))
#define BUILD_BUG_ON(c)		((void)sizeof(char[1 - 2 * !!(c)]))
#define container_of(p, t, m)	((t *)((char *)(p) - offsetof(t, m)))
#define cond_resched()		do { } while (0)
#define __maybe_unused		__attribute__((unused))

void xvu_warn(const char *file, int line);
#define WARN_ON(c)		({ int __c = !!(c); if (__c) xvu_warn(__FILE__, __LINE__); __c; })
#define WARN_ON_ONCE(c)		WARN_ON(c)

static inline unsigned long __ffs(unsigned long x)
{
	return __builtin_ctzl(x);
}

static inline unsigned long __fls(unsigned long x)
{
	return BITS_PER_LONG - 1 - __builtin_clzl(x);
}

#define min(a, b)		((a) < (b) ? (a) : (b))

static inline void __set_bit(unsigned long nr, unsigned long *addr)
{
	*addr |= 1UL << nr;
}

static inline void __clear_bit(unsigned long nr, unsigned long *addr)
{
	*addr &= ~(1UL << nr);
}

static inline bool test_bit(unsigned long nr, const unsigned long *addr)
{
	return (*addr >> nr) & 1;
}

/* ---- lists ---- */
struct list_head {
	struct list_head *next, *prev;
};

#define LIST_HEAD(name)		struct list_head name = { &(name), &(name) }

static inline void INIT_LIST_HEAD(struct list_head *h)
{
	h->next = h;
	h->prev = h;
}

static inline void list_add(struct list_head *n, struct list_head *h)
{
	n->next = h->next;
	n->prev = h;
	h->next->prev = n;
	h->next = n;
}

static inline void list_del(struct list_head *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->next = NULL;
	e->prev = NULL;
}

static inline void list_move(struct list_head *e, struct list_head *h)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	list_add(e, h);
}

static inline int list_empty(const struct list_head *h)
{
	return h->next == h;
}

static inline void list_splice_init(struct list_head *list, struct list_head *head)
{
	if (list_empty(list))
		return;
	list->next->prev = head;
	list->prev->next = head->next;
	head->next->prev = list->prev;
	head->next = list->next;
	INIT_LIST_HEAD(list);
}

#define list_entry(p, t, m)		container_of(p, t, m)
#define list_first_entry(h, t, m)	list_entry((h)->next, t, m)
#define list_for_each_entry(pos, head, m)				\
	for (pos = list_entry((head)->next, __typeof__(*pos), m);	\
	     &pos->m != (head);						\
	     pos = list_entry(pos->m.next, __typeof__(*pos), m))
#define list_for_each_entry_safe(pos, n, head, m)			\
	for (pos = list_entry((head)->next, __typeof__(*pos), m),	\
	     n = list_entry(pos->m.next, __typeof__(*pos), m);		\
	     &pos->m != (head);						\
	     pos = n, n = list_entry(n->m.next, __typeof__(*n), m))

/* ---- locks ---- */
typedef pthread_mutex_t spinlock_t;
#define spin_lock_init(l)	pthread_mutex_init((l), NULL)
#define spin_lock(l)		pthread_mutex_lock(l)
#define spin_unlock(l)		pthread_mutex_unlock(l)

/* ---- pages ---- */
struct page {
	struct list_head lru;
	unsigned long private;
	void *mem;
	unsigned long serial;
	struct page *reg_prev, *reg_next;	/* registry of live pages */
};

struct page *xvu_alloc_page(gfp_t flags);
void xvu_free_page(struct page *page);
void *xvu_map(struct page *page);
void xvu_unmap(void *addr);

#define alloc_page(gfp)			xvu_alloc_page(gfp)
#define __free_page(p)			xvu_free_page(p)
#define page_private(p)			((p)->private)
#define set_page_private(p, v)		((p)->private = (v))

#define rz_kvzalloc_obj(p)		calloc(1, sizeof(*(p)))
#define kvfree(p)			free(p)

#define rz_kmap_local(page)		xvu_map(page)
#define rz_kunmap_local(addr)		xvu_unmap(addr)

#endif /* _XV_HOST_H_ */
