/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kernel's zstd library as ramzswap_zstd.c uses it, on 5.10 to 7.x.
 * Its interface became zstd_*() with parameters by pointer in 5.16
 * (ZSTD_*() with parameters by value before); Kbuild looks for
 * zstd_compress_cctx() and defines RZ_HAVE_ZSTD_LOWER.  Kept apart from
 * compat.h so that only the one file that needs zstd.h includes it.
 */
#ifndef _RAMZSWAP_COMPAT_ZSTD_H_
#define _RAMZSWAP_COMPAT_ZSTD_H_

#include <linux/mm.h>
#include <linux/zstd.h>

/*
 * The two interfaces differ in names and in how the parameters are passed,
 * not in what they do: the names are mapped here, so that each operation
 * below is written once.
 */
#ifdef RZ_HAVE_ZSTD_LOWER	/* 5.16 on: zstd_*() with parameters by pointer */
#define RZ_ZSTD_PARAMS			zstd_parameters
#define RZ_ZSTD_CCTX			zstd_cctx
#define RZ_ZSTD_DCTX			zstd_dctx
#define rz_zstd_get_params(level)	zstd_get_params(level, PAGE_SIZE)
#define rz_zstd_cctx_bound(p)		zstd_cctx_workspace_bound(&(p)->cParams)
#define rz_zstd_dctx_bound()		zstd_dctx_workspace_bound()
#define rz_zstd_init_cctx(mem, size)	zstd_init_cctx(mem, size)
#define rz_zstd_init_dctx(mem, size)	zstd_init_dctx(mem, size)
#define rz_zstd_cctx_compress(c, dst, cap, src, len, p) \
	zstd_compress_cctx(c, dst, cap, src, len, p)
#define rz_zstd_dctx_decompress(d, dst, cap, src, len) \
	zstd_decompress_dctx(d, dst, cap, src, len)
#define rz_zstd_is_error(ret)		zstd_is_error(ret)
#define rz_zstd_max_level()		zstd_max_clevel()
#else				/* 5.10-5.15: ZSTD_*() with parameters by value */
#define RZ_ZSTD_PARAMS			ZSTD_parameters
#define RZ_ZSTD_CCTX			ZSTD_CCtx
#define RZ_ZSTD_DCTX			ZSTD_DCtx
#define rz_zstd_get_params(level)	ZSTD_getParams(level, PAGE_SIZE, 0)
#define rz_zstd_cctx_bound(p)		ZSTD_CCtxWorkspaceBound((p)->cParams)
#define rz_zstd_dctx_bound()		ZSTD_DCtxWorkspaceBound()
#define rz_zstd_init_cctx(mem, size)	ZSTD_initCCtx(mem, size)
#define rz_zstd_init_dctx(mem, size)	ZSTD_initDCtx(mem, size)
#define rz_zstd_cctx_compress(c, dst, cap, src, len, p) \
	ZSTD_compressCCtx(c, dst, cap, src, len, *(p))
#define rz_zstd_dctx_decompress(d, dst, cap, src, len) \
	ZSTD_decompressDCtx(d, dst, cap, src, len)
#define rz_zstd_is_error(ret)		ZSTD_isError(ret)
#define rz_zstd_max_level()		ZSTD_maxCLevel()
#endif

/*
 * One CPU's zstd state: parameters for a page at its level, and contexts
 * made in work areas of rz_zstd_cctx_size() and rz_zstd_dctx_size() bytes.
 */
struct rz_zstd {
	RZ_ZSTD_PARAMS params;
	RZ_ZSTD_CCTX *cctx;
	RZ_ZSTD_DCTX *dctx;
};

static inline void rz_zstd_set_level(struct rz_zstd *z, int level)
{
	z->params = rz_zstd_get_params(level);
}

static inline size_t rz_zstd_cctx_size(const struct rz_zstd *z)
{
	return rz_zstd_cctx_bound(&z->params);
}

static inline size_t rz_zstd_dctx_size(void)
{
	return rz_zstd_dctx_bound();
}

static inline bool rz_zstd_init(struct rz_zstd *z, void *cmem, size_t csize,
				void *dmem, size_t dsize)
{
	z->cctx = rz_zstd_init_cctx(cmem, csize);
	z->dctx = rz_zstd_init_dctx(dmem, dsize);
	return z->cctx && z->dctx;
}

static inline size_t rz_zstd_compress(struct rz_zstd *z, void *dst,
				      size_t cap, const void *src, size_t len)
{
	return rz_zstd_cctx_compress(z->cctx, dst, cap, src, len, &z->params);
}

static inline size_t rz_zstd_decompress(struct rz_zstd *z, void *dst,
					size_t cap, const void *src,
					size_t len)
{
	return rz_zstd_dctx_decompress(z->dctx, dst, cap, src, len);
}

#endif /* _RAMZSWAP_COMPAT_ZSTD_H_ */
