#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install what building and testing gmp needs (Debian 12): the one place
# gmp installs packages. Idempotent: packages already present are not
# fetched again.
#   vm/deps.sh          build, test, demo and fuzz
#   vm/deps.sh bench    and the benchmark's peers (Go, Boost.Fiber, g++,
#                       gnuplot)
#   vm/deps.sh 612      and Debian's 6.12 kernels from bookworm-backports
#                       (generic and PREEMPT_RT images and headers, and
#                       linux-source-6.12 for the 6.12 debug kernel), and
#                       dkms
set -euo pipefail

pkgs=(build-essential bc flex bison libelf-dev libssl-dev dwarves cpio kmod
      python3 pkg-config xz-utils rsync
      linux-headers-amd64 linux-image-amd64 linux-source-6.1
      busybox-static gdb)
[ "${1:-}" = bench ] &&
	pkgs+=(golang-go g++ libboost-fiber-dev libboost-context-dev gnuplot-nox wrk)
[ "${1:-}" = 612 ] && pkgs+=(linux-source-6.12 dkms)

sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
updated=

apt_install() {
	[ -n "$updated" ] || { $sudo apt-get update -qq; updated=1; }
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends "$@" >&2
}

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}" >&2
	apt_install "${missing[@]}"
fi

# QEMU from bookworm-backports: Debian 12's own (7.2) can keep running a
# stale translation of kernel text after another vCPU patched it. When
# a static key flips in __schedule (gmp's preempt notifiers, at insmod and
# rmmod), the guest then loops on an int3 that is no longer in memory,
# about once in 150 flips (Documentation/testing.rst, "A frozen guest").
qemu_major() {
	dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null |
		sed -n 's/^\([0-9]*:\)\{0,1\}\([0-9]*\)\..*/\2/p'
}
qemu=$(qemu_major || true)	# empty when not installed
if [ -z "$qemu" ] || [ "$qemu" -lt 8 ]; then
	bp=/etc/apt/sources.list.d/bookworm-backports.sources
	if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d; then
		echo "deps: adding $bp for QEMU" >&2
		printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' \
			'Suites: bookworm-backports' 'Components: main' \
			'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
			$sudo tee "$bp" > /dev/null
		updated=
	fi
	echo "deps: installing qemu-system-x86 from bookworm-backports" >&2
	apt_install -t bookworm-backports qemu-system-x86
fi

# The 6.12 images: the newest ABI bookworm-backports has, unless a 6.12
# image (generic and RT) is installed already.
if [ "${1:-}" = 612 ]; then
	here=$(cd "$(dirname "$0")" && pwd)
	. "$here/kernels.sh"
	if ! { kernels_612 && kernels_612 rt; } 2>/dev/null; then
		[ -n "$updated" ] || { $sudo apt-get update -qq; updated=1; }
		v=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-rt-amd64-unsigned$' |
			sed 's/^linux-image-\(6\.12\.[0-9]*+deb12\)-.*/\1/' | sort -V | tail -1)
		[ -n "$v" ] || { echo "deps: no 6.12 kernel in bookworm-backports" >&2; exit 1; }
		echo "deps: installing Linux $v (generic and rt) from bookworm-backports" >&2
		apt_install -t bookworm-backports linux-image-$v-amd64-unsigned \
			linux-image-$v-rt-amd64-unsigned linux-headers-$v-amd64 \
			linux-headers-$v-rt-amd64
	fi
fi
