// SPDX-License-Identifier: GPL-2.0-only
/*
 * ramzswap: the compressor front end.
 *
 * The backends the kernel offers, looked up by name; a device's compressor
 * (one context per possible CPU, made at init); and the per-CPU buffers
 * every device shares: an output buffer and a bounce page (for requests
 * whose memory is not one whole page), taken at module load.  A local lock
 * makes the current CPU's buffers, and with them the device's context on
 * that CPU, private to its holder; nothing that sleeps may run under it.
 */
#include <linux/cpumask.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "ramzswap_drv.h"

/* In the order `comp_algorithm` lists them; lz4 first, the default. */
static const struct rz_backend *const rz_backends[] = {
	&rz_lz4,
#ifdef RZ_HAVE_LZ4HC
	&rz_lz4hc,
#endif
#ifdef RZ_HAVE_LZO
#ifdef RZ_HAVE_LZO_RLE
	&rz_lzo_rle,
#endif
	&rz_lzo,
#endif
#ifdef RZ_HAVE_ZSTD
	&rz_zstd,
#endif
};

const struct rz_backend *rz_backend_find(const char *name)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(rz_backends); i++)
		if (!strcmp(rz_backends[i]->name, name))
			return rz_backends[i];
	return NULL;
}

/* "lz4 [zstd] lzo": what this kernel offers, @cur in brackets. */
ssize_t rz_backends_show(char *buf, const char *cur)
{
	ssize_t n = 0;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(rz_backends); i++) {
		const char *name = rz_backends[i]->name;

		n += sysfs_emit_at(buf, n, strcmp(name, cur) ?
				   "%s " : "[%s] ", name);
	}
	if (n)
		buf[n - 1] = '\n';
	return n;
}

/* 0 if @level is one @be takes (0: its default), else -EINVAL. */
int rz_level_check(const struct rz_backend *be, int level)
{
	if (!level || (level >= be->level.min && level <= be->level.max &&
		       be->level.max))
		return 0;
	return -EINVAL;
}

static int rz_ctx_init(const struct rz_backend *be, struct rz_cctx *ctx)
{
	if (be->ctx_init)
		return be->ctx_init(ctx);
	ctx->cmem = kvmalloc(be->wrkmem, GFP_KERNEL);
	return ctx->cmem ? 0 : -ENOMEM;
}

struct rz_comp *rz_comp_create(const char *name, int level)
{
	const struct rz_backend *be = rz_backend_find(name);
	struct rz_comp *comp;
	int cpu, err;

	if (!be || rz_level_check(be, level))
		return ERR_PTR(-EINVAL);
	comp = rz_kzalloc_obj(comp);
	if (!comp)
		return ERR_PTR(-ENOMEM);
	comp->be = be;
	comp->level = level ? level : be->level.def;
	comp->ctx = alloc_percpu(struct rz_cctx);
	if (!comp->ctx) {
		kfree(comp);
		return ERR_PTR(-ENOMEM);
	}
	for_each_possible_cpu(cpu) {
		struct rz_cctx *ctx = per_cpu_ptr(comp->ctx, cpu);

		ctx->level = comp->level;
		err = rz_ctx_init(be, ctx);
		if (err) {
			rz_comp_destroy(comp);
			return ERR_PTR(err);
		}
	}
	return comp;
}

/*
 * Also for a half-made one: every context, made, half made by a failed
 * ctx_init() or never initialised (zeroed), is freed here, once.
 */
void rz_comp_destroy(struct rz_comp *comp)
{
	int cpu;

	if (!comp)
		return;
	for_each_possible_cpu(cpu) {
		struct rz_cctx *ctx = per_cpu_ptr(comp->ctx, cpu);

		kvfree(ctx->cmem);
		kvfree(ctx->dmem);
		kfree(ctx->priv);
	}
	free_percpu(comp->ctx);
	kfree(comp);
}

static struct rz_stream __percpu *rz_streams;

int rz_streams_init(void)
{
	int cpu;

	rz_streams = alloc_percpu(struct rz_stream);
	if (!rz_streams)
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		struct rz_stream *s = per_cpu_ptr(rz_streams, cpu);

		local_lock_init(&s->lock);
		s->cbuf = (u8 *)__get_free_pages(GFP_KERNEL, RZ_CBUF_ORDER);
		s->bounce = (u8 *)__get_free_page(GFP_KERNEL);
		if (!s->cbuf || !s->bounce) {
			rz_streams_exit();
			return -ENOMEM;
		}
	}
	return 0;
}

void rz_streams_exit(void)
{
	int cpu;

	if (!rz_streams)
		return;
	for_each_possible_cpu(cpu) {
		struct rz_stream *s = per_cpu_ptr(rz_streams, cpu);

		free_pages((unsigned long)s->cbuf, RZ_CBUF_ORDER);
		free_page((unsigned long)s->bounce);
	}
	free_percpu(rz_streams);
	rz_streams = NULL;
}

struct rz_stream *rz_stream_get(void)
{
	local_lock(&rz_streams->lock);
	return this_cpu_ptr(rz_streams);
}

void rz_stream_put(void)
{
	local_unlock(&rz_streams->lock);
}

/*
 * Compress one page from @src into s->cbuf, with the stream held.  Returns
 * the compressed length, or 0 when it would exceed @max_len (the page is
 * then kept uncompressed or forwarded, so the output is not needed).
 */
unsigned int rz_compress(struct rz_comp *comp, struct rz_stream *s,
			 const void *src, unsigned int max_len)
{
	return comp->be->compress(this_cpu_ptr(comp->ctx), src, s->cbuf,
				  max_len);
}

/* Decompress @len bytes at @src into the page at @dst, with a stream held. */
int rz_decompress(struct rz_comp *comp, const void *src, unsigned int len,
		  void *dst)
{
	return comp->be->decompress(this_cpu_ptr(comp->ctx), src, len, dst);
}
