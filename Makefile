# rkmod: the one place that knows how to build, test, demo and (later) install.
#
#   make demo    the main job: boot a Debian kernel in QEMU and use the tools on real modules
#   make test    every test: unit, integration, conformance against Debian kmod, VM scenarios
#   make bench   benchmarks against Debian kmod, measured in the same run (docs/benchmarks.md)
#   make soak    the VM soak test at full length; make fuzz: every fuzz target (FUZZ_SECS each)
#   make install the one place that knows the installed layout (see "Install" below)
#   make deb     a Debian package in target/ (packaging/deb/build.sh)
#
# Both demo and test install what they need first (apt packages, Debian kernel packages).

CARGO ?= cargo
DEBIAN_DIR ?= $(CURDIR)/target/debian
export RKMOD_DEBIAN_DIR := $(DEBIAN_DIR)

.PHONY: all build prereqs debian check test test-unit test-vm demo bench soak fuzz fixtures clean \
	docs install uninstall dist deb rpm

all: build

# Release binaries are linked statically: no dynamic loading at start-up (a third of a small
# modinfo's time, more under QEMU's TCG). They go to target/static; `cargo test` keeps its own
# ordinary build.
HOST_TRIPLE := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
STATIC_DIR := $(CURDIR)/target/static
TOOLS := rkmod insmod rmmod lsmod modinfo modprobe depmod modaudit
export RKMOD_BIN_DIR ?= $(STATIC_DIR)
export RKMOD_MODINFO ?= $(STATIC_DIR)/modinfo
export RKMOD_MODAUDIT ?= $(STATIC_DIR)/modaudit

#
# xz decoding is most of the work on .ko.xz trees (depmod, modinfo, modaudit on 6.12). When `make
# debian` has fetched Debian 13's static liblzma 5.8 (LZMA_PC_DIR), xz2 links it: its decoder
# needs a third less CPU than the xz 5.2 that lzma-sys otherwise compiles in (depmod over the
# 6.12 tree: 3.7 s against 5.5 s of CPU, kmod 34.2: 3.9 s). Without it, the bundled copy.
LZMA_PC_DIR ?= $(DEBIAN_DIR)/kmod34/pkgconfig

build:
	if [ -f '$(LZMA_PC_DIR)/liblzma.pc' ]; then \
		unset LZMA_API_STATIC; export PKG_CONFIG_PATH='$(LZMA_PC_DIR)' PKG_CONFIG_ALL_STATIC=1; \
	else export LZMA_API_STATIC=1; fi; \
	RUSTFLAGS="$(RUSTFLAGS) -C target-feature=+crt-static" \
		$(CARGO) build --release --target $(HOST_TRIPLE) $(CARGOFLAGS)
	mkdir -p $(STATIC_DIR)
	for t in $(TOOLS); do install -m 755 target/$(HOST_TRIPLE)/release/$$t $(STATIC_DIR)/$$t; done

prereqs:
	scripts/prereqs.sh

debian: prereqs
	tests/debian/fetch.sh $(DEBIAN_DIR)

# The gates every change passes: formatting, clippy with warnings as errors, rustdoc likewise.
check:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

# Tests build in the dev profile (dependencies optimised, see Cargo.toml): a one-line change
# rebuilds in seconds. RKMOD_HOST_GUARD runs tests/it/host_kernel.rs's guard (the suite again
# under strace: no module system call on the host). The bad-input catalogue leaves its derived
# files in target/bad-inputs for the VM's rk-insmod.
test: check debian build
	RKMOD_HOST_GUARD=1 RKMOD_BAD_INPUTS_OUT=$(CURDIR)/target/bad-inputs $(CARGO) test
	tests/vm/selftest.sh
	tests/vm/run.sh --tools rk
	tests/vm/run.sh --tools kmod
	tests/vm/initramfs-client.sh --tools rk
	tests/vm/initramfs-client.sh --tools kmod

test-unit:
	$(CARGO) test --lib --test it

test-vm: debian build
	tests/vm/selftest.sh
	tests/vm/run.sh --tools rk
	tests/vm/initramfs-client.sh --tools rk

demo: debian build
	scripts/demo.sh

# Every comparison with kmod (host and VM) in one run; writes docs/benchmarks.md.
bench: debian build
	bench/report.sh

# The full VM soak test: 1000 load/unload cycles with concurrent readers (make test runs 100).
soak: debian build
	tests/vm/soak.sh 1000

# Fuzz every parser; FUZZ_SECS per target (needs the nightly toolchain).
FUZZ_SECS ?= 600
fuzz:
	fuzz/run.sh $(FUZZ_SECS)

# Rebuild the committed C test modules and hostile inputs (needs linux-headers-6.1.0-50-amd64).
fixtures: prereqs
	tests/modules/build.sh

clean:
	$(CARGO) clean

# ---------------------------------------------------------------------------------------------
# Install
#
#   make && sudo make install                          rkmod and its links in /usr/local/sbin
#   make install DESTDIR=/tmp/stage PREFIX=/usr SBINDIR=/usr/sbin
#   make install KMOD_NAMES=private ...                 beside a distribution's kmod (packages)
#
# rkmod is one binary; the tools are symbolic links to it. KMOD_NAMES says where the five links
# that kmod also installs and rkmod does completely (insmod, rmmod, lsmod, modinfo, depmod) go:
#   sbin     in SBINDIR with their man pages and completions, replacing kmod's earlier in PATH;
#   private  in KMOD_NAMES_DIR (put it first in PATH to use them, as with /usr/lib/ccache),
#            their man pages renamed rkmod-insmod.8 ..., and no completions: no file collides
#            with kmod's.
# kmod always goes to KMOD_NAMES_DIR, with rkmod-kmod.8: initramfs builders link modprobe and
# depmod to the kmod they find, and a kmod link in SBINDIR would take that over.
# rkmod and modaudit (which kmod lacks) always go to SBINDIR.

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
KMOD_NAMES ?= sbin
KMOD_NAMES_DIR ?= $(PREFIX)/lib/rkmod
# The binary installed. A packager who built it elsewhere names it, and install builds nothing.
RKMOD_BIN ?= target/static/rkmod

VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
KMOD_TOOLS := insmod rmmod lsmod modinfo modprobe depmod
PARTIAL_TOOLS := kmod
OWN_TOOLS := modaudit

ifeq ($(KMOD_NAMES),sbin)
LINK_DIR := $(SBINDIR)
MAN_PREFIX :=
COMPLETED := rkmod $(OWN_TOOLS) $(KMOD_TOOLS)
else ifeq ($(KMOD_NAMES),private)
LINK_DIR := $(KMOD_NAMES_DIR)
MAN_PREFIX := rkmod-
COMPLETED := rkmod $(OWN_TOOLS)
else
$(error KMOD_NAMES must be sbin or private, not '$(KMOD_NAMES)')
endif

ifeq ($(RKMOD_BIN),target/static/rkmod)
install: build
endif

# The man pages and completions are generated from the clap definitions and committed;
# tests/it/ship.rs fails when they are stale.
docs:
	$(CARGO) run --quiet --example gendocs

install:
	@test -x '$(RKMOD_BIN)' || { echo "install: no binary $(RKMOD_BIN); run make first" >&2; exit 1; }
	@# Refuse to replace a tool that is not ours (kmod's /usr/sbin/insmod, say), unless staging.
	@if [ -z '$(DESTDIR)' ]; then for t in $(KMOD_TOOLS) $(OWN_TOOLS) $(PARTIAL_TOOLS); do \
		f='$(LINK_DIR)'/$$t; [ "$$t" = modaudit ] && f='$(SBINDIR)'/$$t; \
		case " $(PARTIAL_TOOLS) " in *" $$t "*) f='$(KMOD_NAMES_DIR)'/$$t ;; esac; \
		if [ -e "$$f" ] && [ "$$(readlink "$$f" | sed 's|.*/||')" != rkmod ]; then \
			echo "install: $$f exists and is not rkmod's (kmod's?); use KMOD_NAMES=private or remove it" >&2; exit 1; \
		fi; done; fi
	install -D -m 755 '$(RKMOD_BIN)' '$(DESTDIR)$(SBINDIR)/rkmod'
	install -d '$(DESTDIR)$(LINK_DIR)' '$(DESTDIR)$(KMOD_NAMES_DIR)'
	for t in $(KMOD_TOOLS); do ln -sfr '$(DESTDIR)$(SBINDIR)/rkmod' "$(DESTDIR)$(LINK_DIR)/$$t"; done
	for t in $(PARTIAL_TOOLS); do ln -sfr '$(DESTDIR)$(SBINDIR)/rkmod' "$(DESTDIR)$(KMOD_NAMES_DIR)/$$t"; done
	for t in $(OWN_TOOLS); do ln -sfr '$(DESTDIR)$(SBINDIR)/rkmod' "$(DESTDIR)$(SBINDIR)/$$t"; done
	install -d '$(DESTDIR)$(MANDIR)/man8'
	install -m 644 man/rkmod.8 $(OWN_TOOLS:%=man/%.8) '$(DESTDIR)$(MANDIR)/man8/'
	for t in $(KMOD_TOOLS); do install -m 644 man/$$t.8 "$(DESTDIR)$(MANDIR)/man8/$(MAN_PREFIX)$$t.8"; done
	for t in $(PARTIAL_TOOLS); do install -m 644 man/$$t.8 "$(DESTDIR)$(MANDIR)/man8/rkmod-$$t.8"; done
	install -d '$(DESTDIR)$(BASHCOMPDIR)' '$(DESTDIR)$(ZSHCOMPDIR)' '$(DESTDIR)$(FISHCOMPDIR)'
	for t in $(COMPLETED); do \
		install -m 644 completions/bash/$$t "$(DESTDIR)$(BASHCOMPDIR)/$$t" && \
		install -m 644 completions/zsh/_$$t "$(DESTDIR)$(ZSHCOMPDIR)/_$$t" && \
		install -m 644 completions/fish/$$t.fish "$(DESTDIR)$(FISHCOMPDIR)/$$t.fish" || exit 1; \
	done

# Removes what install put there (with the same variables); a link is removed only if it
# points to rkmod, so kmod's tools are never touched.
uninstall:
	for t in $(KMOD_TOOLS); do f="$(DESTDIR)$(LINK_DIR)/$$t"; \
		[ -L "$$f" ] && [ "$$(readlink "$$f" | sed 's|.*/||')" = rkmod ] && rm -f "$$f"; done; true
	for t in $(PARTIAL_TOOLS); do f="$(DESTDIR)$(KMOD_NAMES_DIR)/$$t"; \
		[ -L "$$f" ] && [ "$$(readlink "$$f" | sed 's|.*/||')" = rkmod ] && rm -f "$$f"; done; true
	for t in $(OWN_TOOLS); do f="$(DESTDIR)$(SBINDIR)/$$t"; \
		[ -L "$$f" ] && [ "$$(readlink "$$f" | sed 's|.*/||')" = rkmod ] && rm -f "$$f"; done; true
	rm -f '$(DESTDIR)$(SBINDIR)/rkmod'
	rmdir '$(DESTDIR)$(KMOD_NAMES_DIR)' 2>/dev/null; true
	rm -f '$(DESTDIR)$(MANDIR)/man8/rkmod.8' $(OWN_TOOLS:%='$(DESTDIR)$(MANDIR)/man8/%.8') \
		$(KMOD_TOOLS:%='$(DESTDIR)$(MANDIR)/man8/$(MAN_PREFIX)%.8') \
		$(PARTIAL_TOOLS:%='$(DESTDIR)$(MANDIR)/man8/rkmod-%.8')
	for t in $(COMPLETED); do rm -f "$(DESTDIR)$(BASHCOMPDIR)/$$t" \
		"$(DESTDIR)$(ZSHCOMPDIR)/_$$t" "$(DESTDIR)$(FISHCOMPDIR)/$$t.fish"; done

# A source tarball of the working tree (tracked and new files, not ignored ones), for the RPM
# and Arch builds: target/rkmod-$(VERSION).tar.gz.
dist:
	mkdir -p target
	git ls-files -z --cached --others --exclude-standard | \
		xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh | \
		tar --null --files-from=- --transform 's|^|rkmod-$(VERSION)/|' --sort=name \
			--owner=0 --group=0 --numeric-owner -czf target/rkmod-$(VERSION).tar.gz
	@echo "dist: target/rkmod-$(VERSION).tar.gz"

deb:
	packaging/deb/build.sh target

# Needs rpmbuild (apt-get install rpm on Debian, where the BuildRequires cannot be checked).
rpm: dist
	rpmbuild -bb --nodeps --define '_topdir $(CURDIR)/target/rpmbuild' \
		--define '_sourcedir $(CURDIR)/target' --define '_rpmdir $(CURDIR)/target' \
		packaging/rpm/rkmod.spec
