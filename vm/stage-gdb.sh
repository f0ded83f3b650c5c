#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Put Debian's gdb into DIR/gdb/ with what it needs in the busybox guest:
# its shared libraries (run through their own dynamic loader), its data
# directory (gdb's own Python modules) and Python's standard library
# without its tests, tools and build files, and DIR/gdb.sh to run it;
# and the same Python as DIR/python.sh, for kgo-trace.py. About 100 MB,
# for the test guests (Makefile: guest-test-*).
set -e
dir=$1
gdb=$(command -v gdb) || { echo "stage-gdb: no gdb (apt-get install gdb)" >&2; exit 1; }
py=$(ldd "$gdb" | sed -n 's/.*libpython\(3\.[0-9]*\).*/\1/p')
[ -n "$py" ] || { echo "stage-gdb: this gdb has no Python" >&2; exit 1; }
rm -rf "$dir/gdb"
mkdir -p "$dir/gdb/lib" "$dir/gdb/data" "$dir/gdb/py/lib/python$py"
cp "$gdb" "$dir/gdb/gdb"
python=/usr/bin/python$py
cp "$python" "$dir/gdb/python"
ldd "$gdb" "$python" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' |
	sort -u | while read -r lib; do cp -L "$lib" "$dir/gdb/lib/"; done
cp -r /usr/share/gdb/. "$dir/gdb/data/"
# iconv's modules for the conversions gdb makes (its wide characters)
gconv=$(dirname "$(ldd "$gdb" | awk '/libc.so/ { print $3 }')")/gconv
mkdir -p "$dir/gdb/gconv"
cp -r "$gconv"/gconv-modules* "$gconv"/UTF-32.so "$gconv"/UTF-16.so \
	"$gconv"/UNICODE.so "$dir/gdb/gconv/"
(cd "/usr/lib/python$py" && tar cf - --exclude=__pycache__ --exclude='config-*' \
	--exclude=test --exclude=idlelib --exclude=tkinter --exclude=ensurepip \
	--exclude=lib2to3 --exclude=pydoc_data --exclude=distutils \
	--exclude=dist-packages --exclude=site-packages --exclude=turtledemo .) |
	(cd "$dir/gdb/py/lib/python$py" && tar xf -)
cat > "$dir/gdb.sh" <<'SH'
#!/bin/sh
d=$(dirname "$0")/gdb
export PYTHONHOME="$d/py" GCONV_PATH="$d/gconv" HOME=/tmp
exec "$d/lib/ld-linux-x86-64.so.2" --library-path "$d/lib" "$d/gdb" \
	--data-directory "$d/data" "$@"
SH
cat > "$dir/python.sh" <<'SH'
#!/bin/sh
d=$(dirname "$0")/gdb
export PYTHONHOME="$d/py" HOME=/tmp
exec "$d/lib/ld-linux-x86-64.so.2" --library-path "$d/lib" "$d/python" "$@"
SH
chmod +x "$dir/gdb.sh" "$dir/python.sh"
