# SPDX-License-Identifier: GPL-2.0
#
# make                 gmp.ko (against KDIR), the kgo user library, the
#                      selftests and the examples
# make module W=1      the module alone, with extra warnings
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

userlib:
	$(MAKE) -C userlib

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

.PHONY: all module userlib selftests examples check install clean
