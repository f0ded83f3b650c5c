# SPDX-License-Identifier: GPL-2.0
#
# make                 gmp.ko (against KDIR), the kgo user library, the
#                      selftests and the examples
# make module W=1      the module alone, with extra warnings
# make module-stock    gmp.ko for Debian's stock kernel (build/stock)
# make module-debug    gmp.ko and gmp_kunit.ko for the debug test kernel
#                      (build/debug; vm/build-kernel.sh builds it once)
# make guest-test-stock, guest-test-debug, guest-demo, guest-fuzz,
#      guest-bench     a guest's /gmp directory (build/guest-*) from what
#                      was built: what vm/run.sh --dir boots with
# make bench           the benchmark programs (bench/)
# make check           checkpatch.pl --strict on the kernel sources
# make install         the user library, header, pkg-config file
#
# KDIR defaults to the running kernel's build tree, else Debian's 6.1
# headers. MODOUT is where the module is built: one directory per kernel,
# so the stock and the debug build do not overwrite each other.

KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
	$(wildcard /usr/src/linux-headers-*-amd64))
MODOUT ?= build/mod
KSRC := Kbuild $(wildcard gmp_*.c gmp_*.h gmp_*.S)
KCHECK := $(filter-out gmp_uapi.h,$(wildcard gmp_*.c gmp_*.h gmp_*.S)) gmp_uapi.h

all: module userlib selftests examples

module:
	@test -d "$(KDIR)" || { echo "KDIR=$(KDIR) is not a kernel build tree (apt-get install linux-headers-amd64)"; exit 1; }
	mkdir -p $(MODOUT)
	cd $(MODOUT) && for f in $(KSRC); do ln -sf $(CURDIR)/$$f .; done
	$(MAKE) -C $(KDIR) M=$(abspath $(MODOUT)) modules

# The two kernels the suite runs on (vm/kernels.sh, vm/build-kernel.sh).
STOCK_KDIR = $(shell bash -c '. vm/kernels.sh && stock_kernels >&2 && echo $$STOCK_KDIR')
module-stock:
	$(MAKE) module KDIR="$(STOCK_KDIR)" MODOUT=build/stock
module-debug:
	$(MAKE) module KDIR="$$(vm/build-kernel.sh)" MODOUT=build/debug
# vm/test.sh --all's: Debian's 6.12 and 6.12-rt, and the 6.12 debug kernel.
K612_KDIR = $(shell bash -c '. vm/kernels.sh && kernels_612 $(1) >&2 && echo $$K612_KDIR')
module-612:
	$(MAKE) module KDIR="$(call K612_KDIR,)" MODOUT=build/612
module-612rt:
	$(MAKE) module KDIR="$(call K612_KDIR,rt)" MODOUT=build/612rt
module-debug612:
	$(MAKE) module KDIR="$$(vm/build-kernel.sh --612)" MODOUT=build/debug612

# Guest directories: each one's files, staged afresh from the builds.
SELFTESTS := $(addprefix selftests/,$(shell sed -n 's/^TEST_GEN_PROGS := //p' selftests/Makefile))
GUEST_TEST := $(SELFTESTS) examples/hello \
	examples/workers examples/sieve examples/pipeline examples/shutdown \
	examples/echo examples/http userlib/kgo-trace.py \
	vm/guest/run-tests.sh vm/guest/run-smp4.sh vm/guest/kmemleak-scan.sh
GUEST_BENCH := bench/gmp_bench bench/go_bench bench/fiber_bench \
	bench/pthread_bench bench/epoll_bench examples/http bench/guest.sh
define stage
	rm -rf build/$(1)
	mkdir -p build/$(1)
	cp $(2) build/$(1)/
endef
# A test guest also gets gdb, for gmp_gdb_test (vm/stage-gdb.sh).
define stage_test
	$(call stage,$(1),$(2) $(GUEST_TEST))
	vm/stage-gdb.sh build/$(1)
endef
guest-test-stock:
	$(call stage_test,guest-stock,build/stock/gmp.ko)
guest-test-debug:
	$(call stage_test,guest-debug,build/debug/gmp.ko build/debug/gmp_kunit.ko)
guest-test-612:
	$(call stage_test,guest-612,build/612/gmp.ko)
guest-test-612rt:
	$(call stage_test,guest-612rt,build/612rt/gmp.ko)
guest-test-debug612:
	$(call stage_test,guest-debug612,build/debug612/gmp.ko build/debug612/gmp_kunit.ko)
guest-demo:
	$(call stage,guest-demo,build/stock/gmp.ko examples/hello)
guest-fuzz:
	$(call stage,guest-fuzz,build/debug/gmp.ko selftests/gmp_fuzz_test vm/guest/kmemleak-scan.sh)
guest-bench:
	$(call stage,bench/guest,build/stock/gmp.ko $(GUEST_BENCH))
	bench/stage-wrk.sh build/bench/guest

userlib:
	$(MAKE) -C userlib all asan tsan

bench: userlib
	$(MAKE) -C bench

selftests: userlib
	$(MAKE) -C selftests

# As a user would: against an installed copy, found with pkg-config.
KGO_PREFIX := $(CURDIR)/build/kgo-prefix
examples: userlib
	$(MAKE) -C userlib install PREFIX=$(KGO_PREFIX) >/dev/null
	PKG_CONFIG_PATH=$(KGO_PREFIX)/lib/pkgconfig $(MAKE) -C examples

# checkpatch.pl comes from the kernel source (the cached test kernel tree).
CHECKPATCH ?= $(shell vm/build-kernel.sh --tree-only 2>/dev/null)/scripts/checkpatch.pl
check:
	$(CHECKPATCH) --strict --no-tree --terse --show-types \
		-f $(KCHECK)

install: userlib
	$(MAKE) -C userlib install

clean:
	rm -rf build
	$(MAKE) -C userlib clean
	$(MAKE) -C selftests clean
	$(MAKE) -C examples clean

.PHONY: all module module-stock module-debug module-612 module-612rt \
	module-debug612 guest-test-612 guest-test-612rt guest-test-debug612 \
	userlib selftests examples \
	bench check install clean guest-test-stock guest-test-debug \
	guest-demo guest-fuzz guest-bench
