// SPDX-License-Identifier: GPL-2.0-only
/*
 * ramzswap: LZO-RLE and LZO, on the kernel's lib/lzo.
 *
 * lzo-rle (5.1+) is LZO with run-length coding of zero runs, faster on the
 * sparse pages swap sees; the one decoder reads both.  Neither has levels.
 * The compressor takes no output limit: it may write up to
 * lzo1x_worst_compress(PAGE_SIZE) bytes, which RZ_CBUF_SIZE holds, and a
 * result over @max_len counts as not compressible.
 */
#include <linux/types.h>	/* lzo.h uses size_t without it */
#include <linux/lzo.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "ramzswap_drv.h"

static_assert(lzo1x_worst_compress(PAGE_SIZE) <= RZ_CBUF_SIZE);

static unsigned int rz_lzo_len(int ret, size_t len, unsigned int max_len)
{
	return ret == LZO_E_OK && len <= max_len ? len : 0;
}

static unsigned int rz_lzo_compress(struct rz_cctx *ctx, const void *src,
				    void *dst, unsigned int max_len)
{
	size_t len = 0;
	int ret = lzo1x_1_compress(src, PAGE_SIZE, dst, &len, ctx->cmem);

	return rz_lzo_len(ret, len, max_len);
}

static int rz_lzo_decompress(struct rz_cctx *ctx, const void *src,
			     unsigned int len, void *dst)
{
	size_t out = PAGE_SIZE;
	int ret = lzo1x_decompress_safe(src, len, dst, &out);

	return ret == LZO_E_OK && out == PAGE_SIZE ? 0 : -EIO;
}

const struct rz_backend rz_lzo = {
	.name = "lzo", .wrkmem = LZO1X_1_MEM_COMPRESS,
	.compress = rz_lzo_compress, .decompress = rz_lzo_decompress,
};

#ifdef RZ_HAVE_LZO_RLE
static unsigned int rz_lzo_rle_compress(struct rz_cctx *ctx, const void *src,
					void *dst, unsigned int max_len)
{
	size_t len = 0;
	int ret = lzorle1x_1_compress(src, PAGE_SIZE, dst, &len, ctx->cmem);

	return rz_lzo_len(ret, len, max_len);
}

const struct rz_backend rz_lzo_rle = {
	.name = "lzo-rle", .wrkmem = LZO1X_1_MEM_COMPRESS,
	.compress = rz_lzo_rle_compress, .decompress = rz_lzo_decompress,
};
#endif
