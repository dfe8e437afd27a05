/* SPDX-License-Identifier: GPL-2.0-only */
/* The module's compat.h for the host build: xv_host.h has the rz_*() used. */
#include <xv_host.h>
