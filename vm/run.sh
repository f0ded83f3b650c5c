#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a kernel under QEMU with a busybox initramfs holding DIR (as /gmp),
# run COMMAND in the guest and bring back its output and exit status.
#
#   vm/run.sh --kernel stock|debug --dir DIR [options] -- COMMAND...
#
#   --kernel stock   Debian's linux-image-amd64 (bzImage)
#   --kernel debug   the KASAN/lockdep/KUnit kernel of vm/build-kernel.sh
#   --kernel 6.12    Debian's 6.12 from bookworm-backports; 6.12-rt its
#                    PREEMPT_RT flavour (vm/kernels.sh: kernels_612)
#   --kernel debug-6.12  the 6.12 debug kernel (vm/build-kernel.sh --612)
#   --dir DIR        files the guest sees under /gmp (modules, programs)
#   --log FILE       keep the console log there (default: a temp file)
#   --timeout SEC    wall-clock limit for the whole VM (default 900)
#   --smp N          guest CPUs (default 2)   --mem MB  (default 2048)
#   --kvm            use KVM instead of TCG (for real machines; nested
#                    KVM is far slower than TCG on the development VMs)
#   --gdb PORT       QEMU's gdb stub on localhost:PORT and no KASLR, to
#                    look at a hung guest's CPUs (Documentation/testing.rst)
#   --icount         TCG with the guest clock counting instructions
#                    (-icount shift=0,sleep=off: 1 ns per instruction),
#                    so timings are the same on every host and run; the
#                    guest's randomness and RTC are fixed too
#
# QEMU_EXTRA (environment): more QEMU options, split on spaces, e.g.
# "-d exec,in_asm,nochain -dfilter 0x400000+0x100000 -D trace.log" for
# bench/profile.sh's instruction profile.
#
# Exit status: the command's, or 1 if the kernel printed a splat (BUG,
# WARNING, Oops, KASAN, lockdep, scheduling while atomic, soft lockup,
# hung task) even when the command passed, or 124 on timeout.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
kernel=stock dir= log= timeout=900 smp=2 mem=2048 accel=tcg gdb= icount=
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=$2; shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--smp) smp=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--kvm) accel=kvm; shift ;;
	--gdb) gdb=$2; shift 2 ;;
	--icount) icount=1; shift ;;
	--) shift; break ;;
	*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
[ $# -gt 0 ] || { echo "run.sh: no command" >&2; exit 2; }
[ -d "$dir" ] || { echo "run.sh: --dir must name a directory" >&2; exit 2; }

case $kernel in
stock)
	. "$here/kernels.sh"
	stock_kernels || exit 1
	image=$STOCK_IMAGE ;;
debug)
	tree=$("$here/build-kernel.sh") || exit 1
	image=$tree/arch/x86/boot/bzImage ;;
debug-6.12)
	tree=$("$here/build-kernel.sh" --612) || exit 1
	image=$tree/arch/x86/boot/bzImage ;;
6.12 | 6.12-rt)
	. "$here/kernels.sh"
	kernels_612 "${kernel#6.12}" || exit 1
	image=$K612_IMAGE ;;
*) echo "run.sh: --kernel stock|debug|6.12|6.12-rt|debug-6.12" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -n "$log" ] || log=$work/console.log

# The initramfs: busybox, our init, DIR as /gmp and the command.
root=$work/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,gmp}
cp /bin/busybox "$root/bin/busybox"
cp "$here/guest/init" "$root/init"
cp -a "$dir"/. "$root/gmp/"
# What the dynamically linked programs in DIR load, at the host's paths.
for f in "$dir"/*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -Ln "$lib" "$root$lib"
	done
done
printf '%s\n' "$*" > "$root/gmp/cmd.sh"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$work/initramfs.cpio"

cpu=max
[ $accel = kvm ] && cpu=host
extra=() append="console=ttyS0 quiet panic=-1 rdinit=/init"
# The kernel at its link address: for gdb's symbols, for QEMU_EXTRA's
# address filters (bench/profile.sh), and for counted runs, below.
[ -n "${QEMU_EXTRA:-}$gdb$icount" ] && append="$append nokaslr"
[ -n "$gdb" ] && extra=(-gdb "tcp:127.0.0.1:$gdb")
# Counted runs repeat themselves: besides the clock, every input the
# guest could tell apart between runs is fixed: RDRAND and RDSEED come
# from a seeded generator, the RTC starts at one date and follows the
# guest clock, and the kernel is not relocated at random.
# shellcheck disable=SC2054 # QEMU's own commas
[ -n "$icount" ] && extra+=(-icount shift=0,sleep=off -seed 1
	-rtc base=2026-01-01T00:00:00,clock=vm)
# shellcheck disable=SC2206 # split on purpose
[ -n "${QEMU_EXTRA:-}" ] && extra+=($QEMU_EXTRA)
start=$SECONDS
timeout --foreground -k 10 "$timeout" \
	qemu-system-x86_64 -machine pc,accel=$accel -cpu $cpu -smp "$smp" -m "$mem" \
		-nographic -no-reboot -nodefaults -serial stdio "${extra[@]}" \
		-kernel "$image" -initrd "$work/initramfs.cpio" \
		-append "$append" \
		< /dev/null 2>&1 | stdbuf -o0 tr -d '\r' | tee "$log" | sed -n '/GMP-DMESG-BEGIN/,/GMP-DMESG-END/!p'
qrc=${PIPESTATUS[0]}
echo "run.sh: $kernel kernel, $((SECONDS - start)) s in the VM" >&2

if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	echo "run.sh: TIMEOUT after $timeout s" >&2
	exit 124
fi
rc=$(sed -n 's/^GMP-GUEST-EXIT \([0-9]*\)$/\1/p' "$log" | tail -1)
if [ -z "$rc" ]; then
	echo "run.sh: the guest never reported an exit status (crash or panic?)" >&2
	rc=1
fi
if "$here/splat.sh" "$log"; then
	echo "run.sh: FAIL: the kernel log has a splat (see above)" >&2
	exit 1
fi
exit "$rc"
