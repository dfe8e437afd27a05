/* SPDX-License-Identifier: GPL-2.0-only */
/* <linux/highmem.h> for the host build: xv_host.h has what the allocator uses. */
#include <xv_host.h>
