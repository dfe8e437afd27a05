# shellcheck shell=sh disable=SC2034
# Sourced by post-build.sh and post-image.sh, which Buildroot runs as
#   SCRIPT DIR BOARD
# where DIR is TARGET_DIR or BINARIES_DIR and BOARD comes from
# BR2_ROOTFS_POST_SCRIPT_ARGS, naming a directory under board/ (qemu-x86_64,
# raspberrypi4-64, ...): one set of arguments for every board, the board's
# differences in its own directory.
# Sets dir, board, common_dir and board_dir for the script that sources it
# (hence SC2034 off), or stops with one line.

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

[ $# -ge 2 ] || die "usage: ${0##*/} DIR BOARD"
dir="$1"
board="$2"
common_dir="$(cd "$(dirname "$0")" && pwd)"
board_dir="${common_dir}/../${board}"
[ -d "${board_dir}" ] || die "unknown board '${board}' (no ${board_dir})"
