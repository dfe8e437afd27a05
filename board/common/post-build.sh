#!/bin/sh
# Post-build step shared by every ramzswap board.
#
# Buildroot runs it as: post-build.sh TARGET_DIR BOARD (see board-args.sh).

set -eu

# shellcheck source=board/common/board-args.sh
. "$(dirname "$0")/board-args.sh"
target_dir="${dir}"
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
