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
 * One CPU's zstd state: parameters for a page at its level, and contexts
 * made in work areas of rz_zstd_cctx_size() and rz_zstd_dctx_size() bytes.
 */
#ifdef RZ_HAVE_ZSTD_LOWER	/* 5.16 on: zstd_*() with parameters by pointer */
struct rz_zstd {
	zstd_parameters params;
	zstd_cctx *cctx;
	zstd_dctx *dctx;
};

static inline void rz_zstd_set_level(struct rz_zstd *z, int level)
{
	z->params = zstd_get_params(level, PAGE_SIZE);
}

static inline size_t rz_zstd_cctx_size(const struct rz_zstd *z)
{
	return zstd_cctx_workspace_bound(&z->params.cParams);
}

static inline size_t rz_zstd_dctx_size(void)
{
	return zstd_dctx_workspace_bound();
}

static inline bool rz_zstd_init(struct rz_zstd *z, void *cmem, size_t csize,
				void *dmem, size_t dsize)
{
	z->cctx = zstd_init_cctx(cmem, csize);
	z->dctx = zstd_init_dctx(dmem, dsize);
	return z->cctx && z->dctx;
}

static inline size_t rz_zstd_compress(struct rz_zstd *z, void *dst,
				      size_t cap, const void *src, size_t len)
{
	return zstd_compress_cctx(z->cctx, dst, cap, src, len, &z->params);
}

static inline size_t rz_zstd_decompress(struct rz_zstd *z, void *dst,
					size_t cap, const void *src,
					size_t len)
{
	return zstd_decompress_dctx(z->dctx, dst, cap, src, len);
}

#define rz_zstd_is_error(ret)	zstd_is_error(ret)
#define rz_zstd_max_level()	zstd_max_clevel()
#else				/* 5.10-5.15: ZSTD_*() with parameters by value */
struct rz_zstd {
	ZSTD_parameters params;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
};

static inline void rz_zstd_set_level(struct rz_zstd *z, int level)
{
	z->params = ZSTD_getParams(level, PAGE_SIZE, 0);
}

static inline size_t rz_zstd_cctx_size(const struct rz_zstd *z)
{
	return ZSTD_CCtxWorkspaceBound(z->params.cParams);
}

static inline size_t rz_zstd_dctx_size(void)
{
	return ZSTD_DCtxWorkspaceBound();
}

static inline bool rz_zstd_init(struct rz_zstd *z, void *cmem, size_t csize,
				void *dmem, size_t dsize)
{
	z->cctx = ZSTD_initCCtx(cmem, csize);
	z->dctx = ZSTD_initDCtx(dmem, dsize);
	return z->cctx && z->dctx;
}

static inline size_t rz_zstd_compress(struct rz_zstd *z, void *dst,
				      size_t cap, const void *src, size_t len)
{
	return ZSTD_compressCCtx(z->cctx, dst, cap, src, len, z->params);
}

static inline size_t rz_zstd_decompress(struct rz_zstd *z, void *dst,
					size_t cap, const void *src,
					size_t len)
{
	return ZSTD_decompressDCtx(z->dctx, dst, cap, src, len);
}

#define rz_zstd_is_error(ret)	ZSTD_isError(ret)
#define rz_zstd_max_level()	ZSTD_maxCLevel()
#endif

#endif /* _RAMZSWAP_COMPAT_ZSTD_H_ */
