/* SPDX-License-Identifier: GPL-2.0-only */
/* <linux/types.h> for the host build: xv_host.h has what the allocator uses. */
/* The C library includes the user-space API header of that name: pass it on. */
#include_next <linux/types.h>
#include <xv_host.h>
