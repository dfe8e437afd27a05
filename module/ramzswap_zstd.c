// SPDX-License-Identifier: GPL-2.0-only
/*
 * ramzswap: zstd, on the kernel's lib/zstd.
 *
 * zstd stores anonymous memory in less RAM than lz4 at a higher CPU cost,
 * the more so the higher its level.  Its parameters are worked out once per
 * context for one page of input, which also keeps the compression work
 * area small whatever the level; decompression has a work area of its own.
 * The library's interface changed in 5.16: compat_zstd.h has both.
 */
#include <linux/mm.h>
#include <linux/slab.h>

#include "ramzswap_drv.h"
#include "compat_zstd.h"

/* A level the library caps at ZSTD's own maximum (22 in all our kernels). */
#define RZ_ZSTD_MAX_LEVEL	22
#define RZ_ZSTD_DEFAULT_LEVEL	3

static int rz_zstd_ctx_init(struct rz_cctx *ctx)
{
	struct rz_zstd *z;
	size_t csize, dsize;

	if (ctx->level > rz_zstd_max_level())
		return -EINVAL;
	z = rz_kzalloc_obj(z);
	if (!z)
		return -ENOMEM;
	ctx->priv = z;
	rz_zstd_set_level(z, ctx->level);
	csize = rz_zstd_cctx_size(z);
	dsize = rz_zstd_dctx_size();
	ctx->cmem = kvmalloc(csize, GFP_KERNEL);
	ctx->dmem = kvmalloc(dsize, GFP_KERNEL);
	/* what was made of a failed one is freed with the rest (rz_comp_destroy()) */
	if (!ctx->cmem || !ctx->dmem ||
	    !rz_zstd_init(z, ctx->cmem, csize, ctx->dmem, dsize))
		return -ENOMEM;
	return 0;
}

static unsigned int rz_zstd_page_compress(struct rz_cctx *ctx,
					  const void *src, void *dst,
					  unsigned int max_len)
{
	struct rz_zstd *z = ctx->priv;
	size_t ret = rz_zstd_compress(z, dst, max_len, src, PAGE_SIZE);

	/* an output that does not fit in @max_len is an error too */
	return rz_zstd_is_error(ret) ? 0 : ret;
}

static int rz_zstd_page_decompress(struct rz_cctx *ctx, const void *src,
				   unsigned int len, void *dst)
{
	struct rz_zstd *z = ctx->priv;
	size_t ret = rz_zstd_decompress(z, dst, PAGE_SIZE, src, len);

	return !rz_zstd_is_error(ret) && ret == PAGE_SIZE ? 0 : -EIO;
}

const struct rz_backend rz_zstd = {
	.name = "zstd", .ctx_init = rz_zstd_ctx_init,
	.level = { .min = 1, .max = RZ_ZSTD_MAX_LEVEL, .def = RZ_ZSTD_DEFAULT_LEVEL },
	.compress = rz_zstd_page_compress, .decompress = rz_zstd_page_decompress,
};
