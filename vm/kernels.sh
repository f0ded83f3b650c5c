# SPDX-License-Identifier: GPL-2.0
# Sourced by the vm/ scripts: where the two kernels gmp is tested on live.
#   STOCK_IMAGE  Debian's linux-image-amd64 (6.1) bzImage
#   STOCK_KDIR   its headers, to build gmp.ko against
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
