#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in a guest after the tests: two kmemleak scans (an object must look
# unreferenced in two to count) and the report on the console, where
# vm/splat.sh fails the run on it. Exit 1 if the kernel has no kmemleak.
mount -t debugfs none /sys/kernel/debug 2>/dev/null
[ -w /sys/kernel/debug/kmemleak ] || exit 1
echo scan > /sys/kernel/debug/kmemleak
sleep 6
echo scan > /sys/kernel/debug/kmemleak
cat /sys/kernel/debug/kmemleak
