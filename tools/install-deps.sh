#!/bin/sh
# Install the Debian packages the build, the images and the tests need.
# Quiet and quick when everything is there; retries while the mirror syncs.
set -eu

PACKAGES="make gcc libc6-dev bc flex bison libelf-dev libssl-dev dwarves kmod cpio \
zstd xz-utils rsync e2fsprogs dpkg-dev debian-archive-keyring mmdebstrap \
qemu-system-x86 qemu-system-arm qemu-utils gcc-aarch64-linux-gnu \
gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross \
python3 python3-venv bmap-tools shellcheck file mount"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing Debian packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
n=0
until apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing; do
	n=$((n + 1))
	if [ "$n" -ge 4 ]; then
		echo "install-deps: apt failed $n times; giving up" >&2
		exit 1
	fi
	echo "install-deps: apt failed (mirror syncing?), retrying in $((n * 10))s" >&2
	sleep $((n * 10))
done
