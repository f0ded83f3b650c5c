#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (once per machine) a debug test kernel gmp's KUnit suite and
# selftests run on: Debian's linux-source-6.1 (or -6.12) + `make
# tinyconfig` + vm/debug-kernel.config (+ vm/debug-kernel-6.12.config on
# 6.12). The built tree is cached outside the clone, keyed by the
# fragments and the source package version, and its path is printed on
# stdout (everything else goes to stderr).
#
#   vm/build-kernel.sh            # build if needed, print the tree's path
#   vm/build-kernel.sh --tree-only # print it only if already built
#   vm/build-kernel.sh --612 [...] # the same for the 6.12 debug kernel
#   GMP_CACHE=/some/dir vm/...    # cache somewhere else
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
series=6.1
if [ "${1:-}" = --612 ]; then
	series=6.12
	shift
fi
fragment=$here/debug-kernel.config
extra=
[ $series = 6.1 ] || extra=$here/debug-kernel-$series.config
tarball=/usr/src/linux-source-$series.tar.xz
cache=${GMP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gmp}
# Bump when the way the tree is built changes, not only its config.
recipe=1

log() { echo "build-kernel: $*" >&2; }

[ -r "$tarball" ] || { log "$tarball missing: apt-get install linux-source-$series"; exit 1; }
srcver=$(dpkg-query -W -f='${Version}' linux-source-$series 2>/dev/null || stat -c %s "$tarball")
# The 6.1 key is the fragment's and the version's alone, as it always was.
key=$( { cat "$fragment" $extra; echo "$srcver recipe=$recipe"; } | sha256sum | cut -c1-16)
dir=$cache/kernel-$key

if [ -f "$dir/.gmp-built" ]; then
	echo "$dir/linux"
	exit 0
fi
[ "${1:-}" = --tree-only ] && exit 1

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.kernel-$key.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "building test kernel $key in $tmp (linux-source $srcver)"
start=$SECONDS
tar -C "$tmp" -xf "$tarball"
mv "$tmp/linux-source-$series" "$tmp/linux"
cd "$tmp/linux"
make -s tinyconfig >&2
scripts/kconfig/merge_config.sh -m .config "$fragment" $extra >&2
make -s olddefconfig >&2

# merge_config only warns when Kconfig drops an option: fail instead.
missing=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qx "$line" .config || { log "not set as asked: $line"; missing=1; } ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		grep -q "^$opt=" .config && { log "should be off: $opt"; missing=1; } ;;
	esac
done < <(cat "$fragment" $extra)
[ $missing = 0 ] || exit 1

make -s -j"$(nproc)" >&2
log "built in $((SECONDS - start)) s"
touch .gmp-built-tree
mkdir -p "$dir"
rm -rf "$dir/linux"
mv "$tmp/linux" "$dir/linux"
touch "$dir/.gmp-built"
echo "$dir/linux"
