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
	.name = "lz4", .wrkmem = LZ4_MEM_COMPRESS,
	.level = { .min = 1, .max = RZ_LZ4_MAX_ACCEL, .def = LZ4_ACCELERATION_DEFAULT },
	.compress = rz_lz4_compress, .decompress = rz_lz4_decompress,
};

#ifdef RZ_HAVE_LZ4HC
static unsigned int rz_lz4hc_compress(struct rz_cctx *ctx, const void *src,
				      void *dst, unsigned int max_len)
{
	int ret = LZ4_compress_HC(src, dst, PAGE_SIZE, max_len, ctx->level,
				  ctx->cmem);

	return ret > 0 ? ret : 0;
}

const struct rz_backend rz_lz4hc = {
	.name = "lz4hc", .wrkmem = LZ4HC_MEM_COMPRESS,
	.level = { .min = LZ4HC_MIN_CLEVEL, .max = LZ4HC_MAX_CLEVEL, .def = LZ4HC_DEFAULT_CLEVEL },
	.compress = rz_lz4hc_compress, .decompress = rz_lz4_decompress,
};
#endif
