#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Put Debian's wrk (the HTTP load generator of the http rows) and the
# shared libraries it needs into DIR/wrk/, with DIR/wrk.sh to run it
# through its own dynamic loader: the busybox guest has no libraries.
set -e
dir=$1
wrk=$(command -v wrk) || { echo "stage-wrk: no wrk (apt-get install wrk)" >&2; exit 1; }
mkdir -p "$dir/wrk"
cp "$wrk" "$dir/wrk/wrk"
ldd "$wrk" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' |
	while read -r lib; do cp -L "$lib" "$dir/wrk/"; done
cat > "$dir/wrk.sh" <<'SH'
#!/bin/sh
d=$(dirname "$0")/wrk
exec "$d/ld-linux-x86-64.so.2" --library-path "$d" "$d/wrk" "$@"
SH
chmod +x "$dir/wrk.sh"
