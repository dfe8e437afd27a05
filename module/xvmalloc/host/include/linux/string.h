/* SPDX-License-Identifier: GPL-2.0-only */
/* <linux/string.h> for the host build: xv_host.h has what the allocator uses. */
/* The C library includes the user-space API header of that name: pass it on. */
#include_next <linux/string.h>
#include <xv_host.h>
