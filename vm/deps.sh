#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install what building and testing gmp needs (Debian 12). Idempotent:
# packages already present are not fetched again.
set -euo pipefail

pkgs=(build-essential bc flex bison libelf-dev libssl-dev dwarves cpio kmod
      python3 pkg-config xz-utils rsync
      linux-headers-amd64 linux-image-amd64 linux-source-6.1
      qemu-system-x86 busybox-static)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} = 0 ] && exit 0

sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
echo "deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
