# SPDX-License-Identifier: GPL-2.0
# Sourced by the vm/ scripts: where the two kernels gmp is tested on live.
#   STOCK_IMAGE  Debian's linux-image-amd64 (6.1) bzImage
#   STOCK_KDIR   its headers, to build gmp.ko against
#   K612_IMAGE, K612_KDIR  Debian's 6.12 from bookworm-backports, the
#                          newest installed (kernels_612; kernels_612 rt
#                          for the PREEMPT_RT flavour)
# The debug kernel's tree is printed by vm/build-kernel.sh.

stock_kernels() {
	local v
	v=$(dpkg-query -W -f='${Depends}' linux-image-amd64 | grep -o 'linux-image-[^ ,]*' | head -1)
	v=${v#linux-image-}
	STOCK_IMAGE=/boot/vmlinuz-$v
	STOCK_KDIR=/usr/src/linux-headers-$v
	[ -r "$STOCK_IMAGE" ] || { echo "no $STOCK_IMAGE (apt-get install linux-image-amd64)" >&2; return 1; }
	[ -d "$STOCK_KDIR" ] || { echo "no $STOCK_KDIR (apt-get install linux-headers-amd64)" >&2; return 1; }
}

kernels_612() {
	local flavour=amd64 v
	case ${1:-} in rt | -rt) flavour=rt-amd64 ;; esac
	v=$(ls /boot | grep -E "^vmlinuz-6\.12\.[0-9]+\+deb[0-9]+-$flavour\$" |
		sed 's/^vmlinuz-//' | sort -V | tail -1)
	K612_IMAGE=/boot/vmlinuz-$v
	K612_KDIR=/usr/src/linux-headers-$v
	[ -n "$v" ] || { echo "no 6.12 $flavour kernel (apt-get install -t bookworm-backports linux-image-6.12.*-$flavour-unsigned)" >&2; return 1; }
	[ -d "$K612_KDIR" ] || { echo "no $K612_KDIR (apt-get install -t bookworm-backports linux-headers-$v)" >&2; return 1; }
}
