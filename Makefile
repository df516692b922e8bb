# Memorizer: one entry point for users, developers and CI.
#   make demo   build everything, boot the guest, trace `ls -l`, copy the
#               kmap out with scp and summarize it
#   make test   every test of the project (CI runs exactly this)
# See README.md and Documentation/ (make docs).

SHELL := /bin/bash
TOP := $(CURDIR)
# The kernel build tree the modules and the guest use (ci/build-kernel.sh's).
KOBJ := $(or $(KERNEL_OBJ),$(TOP)/build/obj)
CAPMAP := $(TOP)/build/analyzer/release/capmap

.PHONY: all deps kernel-tree kernel-reapply export-patches kernel modules \
	initramfs analyzer vm shell debug demo test docs checkpatch check-series \
	mkosi-image mkosi-boot \
	clean distclean help

all: kernel modules initramfs analyzer

help:
	@sed -n 's/^#   \?//p' Makefile | head -n 6
	@echo "targets: deps kernel-tree kernel-reapply export-patches kernel modules"
	@echo "         initramfs analyzer vm shell debug demo test docs checkpatch"
	@echo "         check-series mkosi-image mkosi-boot clean distclean"

deps:
	@ci/deps.sh

kernel-tree: deps
	@ci/kernel-tree.sh prepare

kernel-reapply:
	@ci/kernel-tree.sh reapply

export-patches:
	@ci/kernel-tree.sh export

kernel: deps
	@ci/build-kernel.sh

# Out-of-tree modules (tracer.ko, its test modules, the guest tests' workload
# module), staged in build/modules.
modules:
	@mkdir -p build && flock build/kernel.lock $(MAKE) -s -C tracer KDIR=$(KOBJ)
	@flock build/kernel.lock $(MAKE) -s -C tests/guest/modules KDIR=$(KOBJ)

initramfs:
	@vm/mkinitramfs.sh

analyzer: deps
	@cd analyzer && cmake --preset release >/dev/null && cmake --build --preset release --target capmap

# Boot the guest and run the default in-guest suites.
vm: kernel modules initramfs
	@vm/run.sh --profile memorizer

# An interactive guest on the console; `debug` waits for gdb on :1234.
shell: kernel modules initramfs
	@vm/run.sh --mode shell --name shell

debug: kernel modules initramfs
	@vm/run.sh --debug --name debug

demo: deps kernel modules initramfs analyzer
	@vm/demo.sh

test: deps
	@ci/run-tests.sh

docs:
	@sphinx-build -q -W --keep-going -b html Documentation build/docs/html
	@echo "documentation: build/docs/html/index.html"

checkpatch:
	@ci/check-patches.sh

# A full Debian guest built with mkosi 14 (needs root; not part of make test):
# Documentation/mkosi.rst.
mkosi-image:
	@ci/deps.sh vm/mkosi/packages.txt
	@vm/mkosi/build.sh

mkosi-boot: kernel
	@vm/mkosi/boot.sh

# Every patch of the series builds on its own (slow; not part of make test).
check-series:
	@ci/check-series-builds.sh

# The seeds' clear.sh: forget build products and results, keep the kernel
# source tree and ccache so that the next build is quick.
clean:
	rm -rf build/obj build/initramfs* build/modules build/guest-bin build/analyzer build/docs out

distclean:
	rm -rf build out
