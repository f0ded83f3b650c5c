#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build gmp with DKMS (dkms.conf) for each kernel release named, from a
# clean export of HEAD, as a user's "dkms add . && dkms build" would, and
# take it out of DKMS again. Nothing is installed or loaded.
#
#   vm/dkms-check.sh 6.1.0-57-amd64 6.12.107+deb12-amd64 ...
# One line per kernel: "ok dkms build KREL" or "not ok dkms build KREL".
set -uo pipefail
cd "$(dirname "$0")/.."
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
src=/usr/src/gmp-$ver
tmp=$(mktemp -d)
trap 'dkms remove "gmp/$ver" --all > /dev/null 2>&1; rm -rf "$tmp" "$src"' EXIT

dkms remove "gmp/$ver" --all > /dev/null 2>&1
rm -rf "$src"
mkdir -p "$tmp/gmp-$ver"
git archive HEAD | tar -x -C "$tmp/gmp-$ver"
dkms add "$tmp/gmp-$ver" > "$tmp/add.log" 2>&1 || { cat "$tmp/add.log" >&2; exit 1; }
for k in "$@"; do
	if dkms build "gmp/$ver" -k "$k" > "$tmp/build.log" 2>&1; then
		echo "ok dkms build $k"
	else
		tail -20 "$tmp/build.log" >&2
		echo "not ok dkms build $k"
	fi
done
