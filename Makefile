# rkmod: the one place that knows how to build, test, demo and (later) install.
#
#   make demo    the main job: boot a Debian kernel in QEMU and use the tools on real modules
#   make test    every test: unit, integration, conformance against Debian kmod, VM scenarios
#   make bench   benchmarks against Debian kmod, measured in the same run
#
# Both demo and test install what they need first (apt packages, Debian kernel packages).

CARGO ?= cargo
DEBIAN_DIR ?= $(CURDIR)/target/debian
export RKMOD_DEBIAN_DIR := $(DEBIAN_DIR)

.PHONY: all build prereqs debian test test-unit test-vm demo bench fixtures clean

all: build

build:
	$(CARGO) build --release

prereqs:
	scripts/prereqs.sh

debian: prereqs
	tests/debian/fetch.sh $(DEBIAN_DIR)

test: debian build
	$(CARGO) test --release
	tests/vm/run.sh --tools rk
	tests/vm/run.sh --tools kmod

test-unit:
	$(CARGO) test --release --lib --test it

test-vm: debian build
	tests/vm/run.sh --tools rk

demo: debian build
	scripts/demo.sh

bench: debian build
	bench/modinfo.sh

# Rebuild the committed C test modules and hostile inputs (needs linux-headers-6.1.0-50-amd64).
fixtures: prereqs
	tests/modules/build.sh

clean:
	$(CARGO) clean
