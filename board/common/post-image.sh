#!/bin/sh
# Post-image step shared by every ramzswap board.
#
# Buildroot runs it from its top directory as: post-image.sh BINARIES_DIR BOARD
# (see board-args.sh). What it does depends on the files in board/BOARD/:
#   genimage.cfg      build the SD card image with Buildroot's genimage
#                     wrapper, which writes a .bmap next to it when
#                     host-bmap-tools is enabled
#   start-qemu.conf   write BINARIES_DIR/start-qemu.sh from start-qemu.sh.in

set -eu

# shellcheck source=board/common/board-args.sh
. "$(dirname "$0")/board-args.sh"
binaries_dir="${dir}"
[ -d "${binaries_dir}" ] || die "no images directory ${binaries_dir}"

if [ -f "${board_dir}/genimage.cfg" ]; then
	support/scripts/genimage.sh -c "${board_dir}/genimage.cfg"
fi

# One value of start-qemu.conf, KEY=VALUE lines.
conf_value() {
	value="$(sed -n "s/^$1=//p" "${board_dir}/start-qemu.conf")"
	[ -n "${value}" ] || die "${board_dir}/start-qemu.conf has no $1="
	printf '%s\n' "${value}"
}

# Escapes a replacement text for sed's s|...|...|.
sed_escape() {
	printf '%s\n' "$1" | sed -e 's/[\\|&]/\\&/g'
}

if [ -f "${board_dir}/start-qemu.conf" ]; then
	qemu="$(sed_escape "$(conf_value QEMU)")"
	args="$(sed_escape "$(conf_value ARGS)")"
	backing="$(sed_escape "$(conf_value BACKING)")"
	sed -e "s|@BOARD@|${board}|g" \
		-e "s|@QEMU@|${qemu}|g" \
		-e "s|@ARGS@|${args}|g" \
		-e "s|@BACKING@|${backing}|g" \
		"${common_dir}/start-qemu.sh.in" >"${binaries_dir}/start-qemu.sh"
	chmod 0755 "${binaries_dir}/start-qemu.sh"
fi
