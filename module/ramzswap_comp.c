// SPDX-License-Identifier: GPL-2.0-only
/*
 * ramzswap: per-CPU LZ4 compression state.
 *
 * Every possible CPU gets an LZ4 work area, an output buffer and a bounce
 * page (for requests whose memory is not one whole page), all taken at
 * module load.  A local lock makes the current CPU's set private to its
 * holder; nothing that sleeps may run while it is held.
 */
#include <linux/cpumask.h>
#include <linux/gfp.h>
#include <linux/lz4.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/slab.h>

#include "ramzswap_drv.h"

static struct rz_stream __percpu *rz_streams;

static void rz_stream_free(struct rz_stream *s)
{
	kvfree(s->wrkmem);
	free_page((unsigned long)s->cbuf);
	free_page((unsigned long)s->bounce);
}

int rz_streams_init(void)
{
	int cpu;

	rz_streams = alloc_percpu(struct rz_stream);
	if (!rz_streams)
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		struct rz_stream *s = per_cpu_ptr(rz_streams, cpu);

		local_lock_init(&s->lock);
		s->wrkmem = kvmalloc(LZ4_MEM_COMPRESS, GFP_KERNEL);
		s->cbuf = (u8 *)__get_free_page(GFP_KERNEL);
		s->bounce = (u8 *)__get_free_page(GFP_KERNEL);
		if (!s->wrkmem || !s->cbuf || !s->bounce) {
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
	for_each_possible_cpu(cpu)
		rz_stream_free(per_cpu_ptr(rz_streams, cpu));
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
 * Compress one page from @src into s->cbuf.  Returns the compressed length,
 * or 0 when it would exceed @max_len (the page is then kept uncompressed or
 * forwarded, so the output is not needed).
 */
unsigned int rz_compress(struct rz_stream *s, const void *src,
			 unsigned int max_len)
{
	int ret = LZ4_compress_default(src, s->cbuf, PAGE_SIZE, max_len,
				       s->wrkmem);

	return ret > 0 ? ret : 0;
}

/* Decompress @len bytes at @src into the page at @dst; 0 or -EIO. */
int rz_decompress(const void *src, unsigned int len, void *dst)
{
	int ret = LZ4_decompress_safe(src, dst, len, PAGE_SIZE);

	return ret == PAGE_SIZE ? 0 : -EIO;
}
