// SPDX-License-Identifier: GPL-2.0-only
/*
 * ramzswap: LZ4 (the default) and LZ4HC, on the kernel's lib/lz4.
 *
 * lz4's level is its acceleration: 1 is the library's default, higher is
 * faster and compresses less.  lz4hc's level trades speed for ratio between
 * LZ4HC_MIN_CLEVEL and LZ4HC_MAX_CLEVEL.  Both decompress with the same
 * safe decoder, which never writes past the page.
 */
#include <linux/lz4.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "ramzswap_drv.h"

/* A level past this only makes lz4 skip more of the input. */
#define RZ_LZ4_MAX_ACCEL	64

static int rz_lz4_alloc(struct rz_cctx *ctx, size_t size)
{
	ctx->cmem = kvmalloc(size, GFP_KERNEL);
	return ctx->cmem ? 0 : -ENOMEM;
}

static int rz_lz4_init(struct rz_cctx *ctx)
{
	return rz_lz4_alloc(ctx, LZ4_MEM_COMPRESS);
}

static void rz_lz4_free(struct rz_cctx *ctx)
{
	kvfree(ctx->cmem);
}

static unsigned int rz_lz4_compress(struct rz_cctx *ctx, const void *src,
				    void *dst, unsigned int max_len)
{
	int ret = LZ4_compress_fast(src, dst, PAGE_SIZE, max_len, ctx->level,
				    ctx->cmem);

	return ret > 0 ? ret : 0;
}

static int rz_lz4_decompress(struct rz_cctx *ctx, const void *src,
			     unsigned int len, void *dst)
{
	int ret = LZ4_decompress_safe(src, dst, len, PAGE_SIZE);

	return ret == PAGE_SIZE ? 0 : -EIO;
}

const struct rz_backend rz_lz4 = {
	.name		= "lz4",
	.min_level	= 1,
	.max_level	= RZ_LZ4_MAX_ACCEL,
	.default_level	= LZ4_ACCELERATION_DEFAULT,
	.ctx_init	= rz_lz4_init,
	.ctx_free	= rz_lz4_free,
	.compress	= rz_lz4_compress,
	.decompress	= rz_lz4_decompress,
};

#ifdef RZ_HAVE_LZ4HC
static int rz_lz4hc_init(struct rz_cctx *ctx)
{
	return rz_lz4_alloc(ctx, LZ4HC_MEM_COMPRESS);
}

static unsigned int rz_lz4hc_compress(struct rz_cctx *ctx, const void *src,
				      void *dst, unsigned int max_len)
{
	int ret = LZ4_compress_HC(src, dst, PAGE_SIZE, max_len, ctx->level,
				  ctx->cmem);

	return ret > 0 ? ret : 0;
}

const struct rz_backend rz_lz4hc = {
	.name		= "lz4hc",
	.min_level	= LZ4HC_MIN_CLEVEL,
	.max_level	= LZ4HC_MAX_CLEVEL,
	.default_level	= LZ4HC_DEFAULT_CLEVEL,
	.ctx_init	= rz_lz4hc_init,
	.ctx_free	= rz_lz4_free,
	.compress	= rz_lz4hc_compress,
	.decompress	= rz_lz4_decompress,
};
#endif
