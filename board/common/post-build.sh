#!/bin/sh
# Post-build step shared by every ramzswap board.
#
# Buildroot runs it as: post-build.sh TARGET_DIR BOARD
# where BOARD comes from BR2_ROOTFS_POST_SCRIPT_ARGS and names a directory
# under board/ (qemu-x86_64, raspberrypi4-64, ...).

set -eu

die() {
	echo "post-build.sh: $*" >&2
	exit 1
}

[ $# -ge 2 ] || die "usage: post-build.sh TARGET_DIR BOARD"
target_dir="$1"
board="$2"
board_dir="$(dirname "$0")/../${board}"
[ -d "${board_dir}" ] || die "unknown board '${board}' (no ${board_dir})"
[ -d "${target_dir}/etc" ] || die "${target_dir} does not look like a target directory"

# The images are swapless: the only swap is ramzswap, set up at boot by
# ramzswap-setup. A swap area in fstab would put swap on the flash.
if [ -f "${target_dir}/etc/fstab" ] &&
	grep -Eq '^[[:space:]]*[^#[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+swap([[:space:]]|$)' \
		"${target_dir}/etc/fstab"; then
	die "${target_dir}/etc/fstab declares a swap area; ramzswap images have no swap on flash"
fi

# Which board this image was built for, for the tests and for bug reports.
printf 'RAMZSWAP_BOARD=%s\n' "${board}" >"${target_dir}/etc/ramzswap-board"
