/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ramzswap: the compressor front end and its backends.
 *
 * Each device compresses with one algorithm, chosen before init and fixed
 * while it holds data, so every stored page is read back with the algorithm
 * that wrote it.  A backend (ramzswap_lz4.c, ramzswap_lzo.c,
 * ramzswap_zstd.c) wraps one of the kernel's libraries; Kbuild builds the
 * ones whose library the kernel has.  A device keeps one context per
 * possible CPU (the backend's work areas, sized for its level), used under
 * the per-CPU stream lock of ramzswap_comp.c.
 */
#ifndef _RAMZSWAP_COMP_H_
#define _RAMZSWAP_COMP_H_

#include <linux/local_lock.h>
#include <linux/types.h>

#define RZ_COMP_NAME_MAX	16
#define RZ_COMP_DEFAULT		"lz4"

/*
 * One CPU's state of one device's compressor.  The front end frees what a
 * backend put here, whether or not its ctx_init() succeeded.
 */
struct rz_cctx {
	void *cmem;	/* compression work area (kvmalloc) */
	void *dmem;	/* decompression work area, if any (kvmalloc) */
	void *priv;	/* the backend's own, for its level (kmalloc) */
	int level;
};

/* The levels a backend takes; none when max is 0.  Level 0 means def. */
struct rz_levels {
	int min, max, def;
};

struct rz_backend {
	const char *name;
	/*
	 * The work areas: @wrkmem bytes of cmem, allocated by the front end,
	 * or, for a backend whose needs depend on the level, its ctx_init().
	 */
	size_t wrkmem;
	int (*ctx_init)(struct rz_cctx *ctx);
	struct rz_levels level;
	/*
	 * One page at @src into @dst (RZ_CBUF_SIZE bytes): the length, or 0
	 * when it does not fit in @max_len.
	 */
	unsigned int (*compress)(struct rz_cctx *ctx, const void *src,
				 void *dst, unsigned int max_len);
	/* @len bytes at @src back into the page at @dst: 0 or -EIO */
	int (*decompress)(struct rz_cctx *ctx, const void *src,
			  unsigned int len, void *dst);
};

/* The output buffer every backend may fill: LZO can exceed a page. */
#define RZ_CBUF_ORDER	1
#define RZ_CBUF_SIZE	(PAGE_SIZE << RZ_CBUF_ORDER)

extern const struct rz_backend rz_lz4, rz_lz4hc, rz_lzo, rz_lzo_rle, rz_zstd;

/* A device's compressor: its backend, level and per-CPU contexts. */
struct rz_comp {
	const struct rz_backend *be;
	int level;
	struct rz_cctx __percpu *ctx;
};

/* Per-CPU buffers shared by all devices, and the lock that makes them ours. */
struct rz_stream {
	local_lock_t lock;
	u8 *cbuf;	/* RZ_CBUF_SIZE bytes */
	u8 *bounce;	/* one page */
};

const struct rz_backend *rz_backend_find(const char *name);
ssize_t rz_backends_show(char *buf, const char *cur);
int rz_level_check(const struct rz_backend *be, int level);

struct rz_comp *rz_comp_create(const char *name, int level);
void rz_comp_destroy(struct rz_comp *comp);

int rz_streams_init(void);
void rz_streams_exit(void);
struct rz_stream *rz_stream_get(void);
void rz_stream_put(void);
unsigned int rz_compress(struct rz_comp *comp, struct rz_stream *s,
			 const void *src, unsigned int max_len);
int rz_decompress(struct rz_comp *comp, const void *src, unsigned int len,
		  void *dst);

#endif /* _RAMZSWAP_COMP_H_ */
