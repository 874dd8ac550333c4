#!/usr/bin/env bash
# Build the initramfs of the rkmod test VM.
#
#   tests/vm/mkinitramfs.sh OUT.cpio.gz KVER_DIR [EXTRA_DIR...]
#
# KVER_DIR is an extracted Debian linux-image package (boot/vmlinuz-*, lib/modules/<kver>/),
# e.g. target/debian/6.1. Each EXTRA_DIR is copied over the image root last.
#
# Image layout:
#   /init, /bin/busybox + applets   BusyBox (static); its module applets are left out on purpose
#   /kmod/bin/{kmod,insmod,rmmod,lsmod,modinfo,depmod,modprobe}   the host's kmod (reference)
#   /rk/bin/*                       our tools, whichever exist in ${RKMOD_BIN_DIR:-target/release}
#   /etc/modprobe.d/                empty; scenarios/modprobe*.sh write their configuration there
#   /rk/modules/                    tests/fixtures/rk_*.ko* and bad/, KERNELRELEASE (their vermagic)
#   /rk/debian-modules.txt          the modules list, resolved: NAME EXPECT INIT/EXIT-CLASS PATH
#   /lib/modules/<kver>/            the listed Debian modules + their modules.dep closure, depmod'ed
#   /boot/config-<kver>             the kernel's config (lib.sh: t_kconfig)
#   /sbin/capsh                     libcap2-bin's capsh, if installed (scenarios/nocap.sh)
#   /scenarios/                     lib.sh, run-all.sh, scenarios/*.sh
#   shared libraries at the paths ldd reports
#
# Environment:
#   RKMOD_BIN_DIR           our binaries (default <repo>/target/release)
#   RKMOD_FIXTURES_DIR      test modules (default <repo>/tests/fixtures)
#   RKMOD_BAD_INPUTS_OUT    derived hostile files to add under /rk/modules/bad/generated (default
#                           <repo>/target/bad-inputs, written by `make test`'s cargo test)
#   RKMOD_VM_MODULES_LIST   module list (default tests/vm/modules-<major.minor>.list)
#   RKMOD_VM_GZIP           gzip level, 1-9 (default 6)
#   RKMOD_VM_DEPMOD         which depmod indexes the image's module directory: host (default, the
#                           host's kmod), kmod34 (kmod 34.2 from RKMOD_DEBIAN_DIR/kmod34), rk (ours,
#                           RKMOD_BIN_DIR/depmod) or the path of a depmod
set -euo pipefail

log() { printf 'mkinitramfs: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $# -ge 2 ]] || die "usage: $0 OUT.cpio.gz KVER_DIR [EXTRA_DIR...]"
out=$1 kdir=$2
shift 2
extras=("$@")

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bindir=${RKMOD_BIN_DIR:-$repo/target/release}
fixtures=${RKMOD_FIXTURES_DIR:-$repo/tests/fixtures}
bad_inputs=${RKMOD_BAD_INPUTS_OUT:-$repo/target/bad-inputs}
PATH=$PATH:/usr/sbin:/sbin

[[ -d $kdir/lib/modules ]] || die "$kdir/lib/modules: no such directory (extract a linux-image package there)"
kvers=("$kdir"/lib/modules/*)
[[ ${#kvers[@]} -eq 1 && -d ${kvers[0]} ]] || die "$kdir/lib/modules must hold exactly one kernel version, found: ${kvers[*]##*/}"
kver=${kvers[0]##*/}
series=$(echo "$kver" | cut -d. -f1,2)
srcmods=${kvers[0]}
list=${RKMOD_VM_MODULES_LIST:-$here/modules-$series.list}
[[ -f $list ]] || die "no module list for kernel $kver: $list"
[[ -f $srcmods/modules.dep ]] || die "$srcmods/modules.dep missing (run depmod -b $kdir $kver)"

for cmd in cpio gzip readelf depmod ldd xz; do
	command -v "$cmd" >/dev/null || die "$cmd not found"
done
busybox=$(command -v busybox) || die "busybox not found (apt-get install busybox-static)"
if readelf -lW "$busybox" | grep -q 'Requesting program interpreter'; then
	die "$busybox is dynamically linked; install busybox-static"
fi
kmod=$(command -v kmod) || die "kmod not found (apt-get install kmod)"

stage=$(mktemp -d "${TMPDIR:-/tmp}/rkmod-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,run,root,etc/modprobe.d,kmod/bin,rk/bin,rk/modules,scenarios}
mkdir -p "$stage/lib/modules/$kver"

# copy_exe SRC DEST: SRC (symlinks resolved) to DEST in the image, plus every shared library
# and the dynamic loader, each at the path ldd prints.
copy_exe() {
	local src=$1 dest=$2 lib
	install -D -m 0755 "$(readlink -f "$src")" "$stage$dest"
	# ldd prints "name => /path (addr)" or "/path (addr)" for the loader; static: nothing.
	for lib in $(ldd "$src" 2>/dev/null | awk '/=> \// { print $3 } /^[ \t]*\// { print $1 }'); do
		[[ -e $stage$lib ]] && continue
		install -D -m 0755 "$(readlink -f "$lib")" "$stage$lib"
	done
}

# --- BusyBox -----------------------------------------------------------------------------------
install -m 0755 "$busybox" "$stage/bin/busybox"
# BusyBox's own module tools must not shadow kmod's or ours.
for applet in $("$busybox" --list); do
	case $applet in
	insmod | rmmod | lsmod | modinfo | modprobe | depmod | busybox) continue ;;
	esac
	ln -s busybox "$stage/bin/$applet"
done

# --- kmod (reference) and capsh ----------------------------------------------------------------
copy_exe "$kmod" /kmod/bin/kmod
for t in insmod rmmod lsmod modinfo depmod modprobe; do
	ln -s kmod "$stage/kmod/bin/$t"
done
if capsh=$(command -v capsh); then
	copy_exe "$capsh" /sbin/capsh
else
	log "capsh not found (package libcap2-bin): scenarios/nocap.sh will use unshare only"
fi

# --- our tools ---------------------------------------------------------------------------------
rk_tools=()
for t in insmod rmmod lsmod modinfo modprobe depmod modaudit; do
	if [[ -x $bindir/$t ]]; then
		copy_exe "$bindir/$t" "/rk/bin/$t"
		rk_tools+=("$t")
	fi
done
log "our tools from $bindir: ${rk_tools[*]:-(none)}"

# --- our test modules --------------------------------------------------------------------------
shopt -s nullglob
fix=("$fixtures"/rk_*.ko*)
if ((${#fix[@]})); then
	cp "${fix[@]}" "$stage/rk/modules/"
	[[ -d $fixtures/bad ]] && cp -r "$fixtures/bad" "$stage/rk/modules/bad"
	# Derived hostile files from the bad-input catalogue (tests/it/bad_inputs.rs), if it ran.
	gen=("$bad_inputs"/*.ko)
	if ((${#gen[@]})); then
		mkdir -p "$stage/rk/modules/bad/generated"
		cp "${gen[@]}" "$stage/rk/modules/bad/generated/"
		log "bad-input catalogue: ${#gen[@]} derived files from $bad_inputs"
	fi
	# modinfo -F vermagic -> "6.1.0-50-amd64 SMP preempt mod_unload modversions "
	modinfo -F vermagic "$fixtures/rk_basic.ko" | awk '{ print $1 }' >"$stage/rk/modules/KERNELRELEASE"
	log "test modules: ${#fix[@]} files for kernel $(cat "$stage/rk/modules/KERNELRELEASE")"
else
	log "no test modules in $fixtures (tests/modules/build.sh makes them)"
fi
shopt -u nullglob

# --- Debian modules ----------------------------------------------------------------------------
# modpath NAME: the modules.dep line of NAME ("kernel/x/y.ko[.xz]: dep dep ...").
modline() {
	awk -F: -v want="${1//-/_}" '
		{ b = $1; sub(/.*\//, "", b); sub(/\..*/, "", b); gsub(/-/, "_", b)
		  if (b == want) { print; found = 1; exit } }
		END { exit !found }' "$srcmods/modules.dep"
}

# class FILE: which of init_module/cleanup_module the module defines (the kernel marks a module
# permanent when it has an init function and no exit function).
class() {
	local f=$1 tmp syms
	case $f in
	*.xz) tmp=$stage/.class.ko; xz -dc "$f" >"$tmp"; f=$tmp ;;
	*.zst) tmp=$stage/.class.ko; zstd -qdc "$f" >"$tmp"; f=$tmp ;;
	*.gz) tmp=$stage/.class.ko; gzip -dc "$f" >"$tmp"; f=$tmp ;;
	esac
	syms=$(readelf -sW "$f" | awk '$7 != "UND" && ($8 == "init_module" || $8 == "cleanup_module") { print $8 }')
	rm -f "$stage/.class.ko"
	case $syms in
	*init_module*cleanup_module* | *cleanup_module*init_module*) echo init+exit ;;
	*init_module*) echo permanent ;;
	*cleanup_module*) echo exit-only ;;
	*) echo neither ;;
	esac
}

declare -A want_files=()
: >"$stage/rk/debian-modules.txt"
n=0
while read -r name expect _; do
	[[ -z $name || $name == \#* ]] && continue
	expect=${expect:-load}
	case $expect in load | fail) ;; *) die "$list: $name: EXPECT must be load or fail, not '$expect'" ;; esac
	line=$(modline "$name") || die "$list: module $name is not in $srcmods/modules.dep"
	path=${line%%:*}
	want_files[$path]=1
	for dep in ${line#*:}; do want_files[$dep]=1; done
	printf '%s %s %s %s\n' "${name//-/_}" "$expect" "$(class "$srcmods/$path")" "$path" >>"$stage/rk/debian-modules.txt"
	n=$((n + 1))
done <"$list"
for path in "${!want_files[@]}"; do
	install -D -m 0644 "$srcmods/$path" "$stage/lib/modules/$kver/$path"
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[[ -f $srcmods/$f ]] && cp "$srcmods/$f" "$stage/lib/modules/$kver/"
done
# -C: an empty configuration, so the host's /etc/depmod.d (search/override lines a DKMS or a
# distribution put there) cannot change the image's modules.dep.
mkdir "$stage.depmod.d"
trap 'rm -rf "$stage" "$stage.depmod.d"' EXIT
case ${RKMOD_VM_DEPMOD:-host} in
host) depmod_bin=$(command -v depmod) ;;
kmod34) depmod_bin=${RKMOD_DEBIAN_DIR:-$repo/target/debian}/kmod34/bin/depmod ;;
rk) depmod_bin=$bindir/depmod ;;
*) depmod_bin=$RKMOD_VM_DEPMOD ;;
esac
[[ -x $depmod_bin ]] || die "RKMOD_VM_DEPMOD=${RKMOD_VM_DEPMOD:-host}: no depmod at '$depmod_bin'"
"$depmod_bin" -C "$stage.depmod.d" -b "$stage" "$kver" || die "$depmod_bin -b $stage $kver failed"
log "module directory indexed by $depmod_bin"
log "Debian modules ($kver): $n listed, ${#want_files[@]} files with dependencies, $(du -sk "$stage/lib/modules" | cut -f1) KiB"
awk '$3 == "permanent" { p = p " " $1 } END { if (p) print "mkinitramfs: permanent (init, no exit):" p }' "$stage/rk/debian-modules.txt" >&2

# --- scenarios and /init -----------------------------------------------------------------------
# The kernel's config, so scenarios can ask what it was built with (lib.sh: t_kconfig).
mkdir -p "$stage/boot"
[[ -f $kdir/boot/config-$kver ]] && cp "$kdir/boot/config-$kver" "$stage/boot/"
install -m 0755 "$here/init" "$stage/init"
install -m 0644 "$here/lib.sh" "$stage/scenarios/lib.sh"
install -m 0755 "$here/run-all.sh" "$stage/scenarios/run-all.sh"
install -m 0755 "$here"/scenarios/*.sh "$stage/scenarios/"
# For the interactive shell (run.sh --shell): BusyBox runs its own applets for bare command
# names (FEATURE_SH_STANDALONE), links or not; shell functions take precedence over that.
cat >"$stage/etc/profile" <<'PROFILE'
PS1='rkmod-vm:\w# '
case ${RKMOD_TOOLS:-kmod} in rk) d=/rk/bin ;; *) d=/kmod/bin ;; esac
for t in insmod rmmod lsmod modinfo modprobe; do eval "$t() { $d/$t \"\$@\"; }"; done
depmod() { /kmod/bin/depmod "$@"; }
echo "insmod, rmmod, lsmod, modinfo, modprobe run $d/*; kmod is in /kmod/bin, ours in /rk/bin; scenarios in /scenarios"
PROFILE
echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
echo "root:x:0:" >"$stage/etc/group"

for extra in "${extras[@]}"; do
	[[ -d $extra ]] || die "EXTRA_DIR $extra: not a directory"
	cp -a "$extra/." "$stage/"
done

# The kernel opens /dev/console before /init runs; without the node in the cpio, /init starts
# with no stdio until it mounts devtmpfs (it reopens the console then, so this is a nicety).
if [[ $(id -u) -eq 0 ]]; then
	mknod -m 0600 "$stage/dev/console" c 5 1
	mknod -m 0666 "$stage/dev/null" c 1 3
fi

# --- archive -----------------------------------------------------------------------------------
mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
	cpio --null --create --format=newc --owner=0:0 --quiet) |
	gzip -n "-${RKMOD_VM_GZIP:-6}" >"$out.tmp"
mv "$out.tmp" "$out"
log "wrote $out: $(du -k "$out" | cut -f1) KiB compressed, $(du -sk "$stage" | cut -f1) KiB unpacked"
