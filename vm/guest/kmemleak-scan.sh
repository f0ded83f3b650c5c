#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# kmemleak in a test guest. "kmemleak-scan.sh baseline", before gmp.ko is
# loaded, scans once and clears what the kernel itself left unreferenced
# while booting (6.1's ACPI caches are reported so). Without an argument,
# after the tests: two scans (an object must look unreferenced in both to
# count) and the report on the console, where vm/splat.sh fails the run
# on it. Exit 1 if the kernel has no kmemleak.
mount -t debugfs none /sys/kernel/debug 2>/dev/null
k=/sys/kernel/debug/kmemleak
[ -w $k ] || exit 1
if [ "${1:-}" = baseline ]; then
	# kmemleak reports an object only from its second scan (the first
	# sees its checksum change) and once it is 5 s old: two scans, the
	# second with the boot's objects old enough, then clear forgets what
	# they reported.
	echo scan > $k
	up=$(cut -d. -f1 /proc/uptime)
	[ "$up" -ge 7 ] || sleep $((7 - up))
	echo scan > $k
	echo clear > $k
	exit 0
fi
echo scan > $k
sleep 6
echo scan > $k
# A record allocated by start_kernel() is the boot's, whichever scan
# found it (under a loaded host the baseline's can miss one of the ACPI
# caches): it is dropped. Every other record is printed whole.
awk '
/^unreferenced object/ { if (rec != "" && !boot) printf "%s", rec; rec = ""; boot = 0 }
{ rec = rec $0 "\n" }
/start_kernel\+/ { boot = 1 }
END { if (rec != "" && !boot) printf "%s", rec }
' $k
