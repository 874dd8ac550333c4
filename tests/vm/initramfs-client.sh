#!/usr/bin/env bash
# A real client of modprobe and depmod: Debian's initramfs-tools builds an initramfs for the
# Debian 6.1 kernel with the chosen tools, and the kernel boots from it in QEMU (TCG) to an ext4
# root file system on a virtio disk whose drivers are all modules.
#
#   tests/vm/initramfs-client.sh [--tools kmod|rk] [--keep]
#
#   --tools kmod   Debian's kmod (the host's /sbin/modprobe and depmod), for comparison (default)
#   --tools rk     rkmod's modprobe and depmod from RKMOD_BIN_DIR (default <repo>/target/release)
#   --keep         keep the work directory (target/vm/initramfs-client/<tools>/work)
#
# What happens, and what is checked:
#   1. mkinitramfs (initramfs-tools) runs in a private mount namespace (unshare -m) in which
#      /usr/sbin/modprobe and /usr/sbin/depmod are logging wrappers around the tools under test
#      (an overlay over /usr/sbin: mkinitramfs sets its own PATH, so prepending one cannot work),
#      /lib/modules/<kver> is the Debian tree and /boot is its boot/ (for the kernel config).
#      The host's /usr/sbin, /lib/modules and /boot are never changed; the namespace ends with
#      mkinitramfs. Its hooks call `modprobe --show-depends` for every module they add
#      (virtio_pci and virtio_blk from our hook, ext4 from the modules list, with their
#      dependencies and softdeps) and `depmod -a -b DESTDIR` to index the image.
#      Checked: the wrappers logged those calls and they succeeded.
#   2. Our hook puts the tool under test in the image as /usr/sbin/modprobe behind a wrapper
#      that logs every call and which modules it loaded, and replaces udev's 80-drivers.rules
#      (which loads drivers through libkmod) with `modprobe -b $MODALIAS`, so that every module
#      is loaded by modprobe: udev's coldplug (virtio_pci, virtio_blk, by alias), the image's
#      /conf/modules (ext4), the kernel's request_module.
#      Checked in the unpacked image: the wrapper, the very binary under test, the modules, and
#      a modules.dep written by the depmod under test.
#   3. The root file system (mkfs.ext4 -d: static BusyBox, an /sbin/init that prints what it
#      finds and powers off) is mounted by the initramfs from /dev/vda.
#      Checked on the console: the marker of the root's init, virtio_blk, ext4 and their
#      dependencies loaded, each by a logged modprobe call; no panic, oops or WARNING.
#
# Like run.sh: no fixed time limit, tests/vm/watchdog.sh ends qemu when the console stays silent
# for RKMOD_VM_STALL seconds (300); RKMOD_VM_TIMEOUT caps a boot (default 3600). Outside CI a
# missing prerequisite is a loud skip; under CI=true it fails. The last line is "N passed, N failed".
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
debian_dir=${RKMOD_DEBIAN_DIR:-$repo/target/debian}
bindir=${RKMOD_BIN_DIR:-$repo/target/release}
stall_s=${RKMOD_VM_STALL:-300}
timeout_s=${RKMOD_VM_TIMEOUT:-3600}
PATH=$PATH:/usr/sbin:/sbin

log() { printf 'initramfs-client: %s\n' "$*" >&2; }
usage() { sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "$0"; exit "${1:-0}"; }

tools=kmod keep=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--tools) [[ $# -ge 2 ]] || usage 2; tools=$2; shift 2 ;;
	--tools=*) tools=${1#*=}; shift ;;
	--keep) keep=1; shift ;;
	-h | --help) usage 0 ;;
	*) log "unknown argument: $1"; usage 2 ;;
	esac
done
case $tools in kmod | rk) ;; *) log "--tools must be kmod or rk"; usage 2 ;; esac
# shellcheck disable=SC2034 # for host-lib.sh
case ${CI:-} in true | 1 | yes) ci=1 ;; *) ci=0 ;; esac
# shellcheck source=SCRIPTDIR/host-lib.sh
. "$here/host-lib.sh"

# --- prerequisites -------------------------------------------------------------------------------
problems=()
need_commands mkinitramfs:initramfs-tools unmkinitramfs:initramfs-tools mkfs.ext4:e2fsprogs \
	qemu-system-x86_64:qemu-system-x86 unshare:util-linux kmod:kmod cpio:cpio
[[ $(id -u) -eq 0 ]] || problems+=("not root: mkinitramfs runs in a private mount namespace (unshare -m)")
kdir=$debian_dir/6.1
[[ -d $kdir/lib/modules ]] || "$repo/tests/debian/fetch.sh" "$debian_dir" >&2 || log "tests/debian/fetch.sh failed"
vmlinuz=$(compgen -G "$kdir/boot/vmlinuz-*" | head -n 1)
[[ -n $vmlinuz ]] || problems+=("no kernel $kdir/boot/vmlinuz-* (tests/debian/fetch.sh)")
if [[ $tools == rk ]]; then
	for t in modprobe depmod; do
		[[ -x $bindir/$t ]] || problems+=("rkmod's $t is not built: no $bindir/$t (make build; RKMOD_BIN_DIR)")
	done
fi
((${#problems[@]})) && prereq_missing "${problems[@]}"
kver=$(basename "$(compgen -G "$kdir/lib/modules/*" | head -n 1)")
[[ -f $kdir/boot/config-$kver ]] || prereq_missing "no $kdir/boot/config-$kver"

out=$repo/target/vm/initramfs-client/$tools
rm -rf "$out"
mkdir -p "$out/work"
work=$out/work
((keep)) || trap 'rm -rf "$work"' EXIT

passes=0 fails=0
pass() { passes=$((passes + 1)); echo "  PASS $*"; }
fail() { fails=$((fails + 1)); echo "  FAIL $*"; }
# shellcheck disable=SC2317 # called through check
not_grep() { ! grep -q "$@"; }
check() { # check NAME DETAILS CMD...
	local name=$1 details=$2
	shift 2
	if "$@"; then pass "$name: $details"; else fail "$name: $details"; fi
}
finish() {
	echo "initramfs-client --tools $tools: $passes passed, $fails failed (logs in $out)"
	echo "$passes passed, $fails failed"
	((fails == 0))
	exit
}

# --- the tools under test, on the host and in the image ------------------------------------------
# real/modprobe, real/depmod: what the wrappers run. kmod decides what to be by its argv[0], so a
# link named modprobe is kmod's modprobe.
mkdir -p "$work/real" "$work/sbin" "$work/conf/hooks" "$work/conf/scripts" "$work/conf/conf.d" \
	"$work/lib-modules/$kver" "$work/root"
if [[ $tools == rk ]]; then
	real_modprobe=$bindir/modprobe real_depmod=$bindir/depmod
else
	real_modprobe=$(command -v kmod) real_depmod=$(command -v kmod)
fi
ln -s "$(readlink -f "$real_modprobe")" "$work/real/modprobe"
ln -s "$(readlink -f "$real_depmod")" "$work/real/depmod"
trace=$work/host-trace.log
: >"$trace"
for t in modprobe depmod; do
	cat >"$work/sbin/$t" <<EOF
#!/bin/sh
# initramfs-client.sh: log the call, run $tools's $t
"$work/real/$t" "\$@"
rc=\$?
printf '%s rc=%s\n' "$t \$*" "\$rc" >>"$trace"
exit \$rc
EOF
	chmod 755 "$work/sbin/$t"
done

cat >"$work/conf/initramfs.conf" <<'EOF'
# initramfs-client.sh: only the modules asked for (CONFDIR/modules and hooks), BusyBox, gzip.
MODULES=list
BUSYBOX=y
KEYMAP=n
COMPRESS=gzip
RUNSIZE=10%
FSTYPE=auto
RESUME=none
EOF
# Loaded at boot by the image's init (load_modules: `modprobe ext4`), and --show-depends at build.
echo ext4 >"$work/conf/modules"

# The wrapper in the image: log each call with the modules that appeared in /proc/modules (shell
# builtins only: the kernel's request_module runs it with an empty environment).
cat >"$work/image-modprobe" <<'EOF'
#!/bin/sh
# initramfs-client.sh: the modprobe of this image logs every call, then runs the tool under test
# (/usr/lib/rkmod-client/modprobe).
mods() { while read -r m _; do printf ' %s ' "$m"; done </proc/modules; }
before=$(mods)
/usr/lib/rkmod-client/modprobe "$@"
rc=$?
new=''
for m in $(mods); do
	case $before in *" $m "*) ;; *) new="$new $m" ;; esac
done
echo "modprobe $* rc=$rc appeared:$new" >>/run/rkmod-client.log
exit $rc
EOF

cat >"$work/conf/hooks/rkmod-client" <<'EOF'
#!/bin/sh
# initramfs-client.sh's hook: the virtio disk's drivers; modprobe under test behind a logging
# wrapper; udev loads drivers through that modprobe instead of its libkmod builtin.
case $1 in prereqs) exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
manual_add_modules virtio_pci virtio_blk
mkdir -p "$DESTDIR/usr/lib/rkmod-client"
if [ "$RKMOD_CLIENT_TOOLS" = rk ]; then
	cp "$RKMOD_CLIENT_MODPROBE" "$DESTDIR/usr/lib/rkmod-client/modprobe"
else
	copy_exec /usr/bin/kmod /usr/bin
	ln -sf /usr/bin/kmod "$DESTDIR/usr/lib/rkmod-client/modprobe"
fi
rm -f "$DESTDIR/usr/sbin/modprobe"
install -m 755 "$RKMOD_CLIENT_WRAPPER" "$DESTDIR/usr/sbin/modprobe"
mkdir -p "$DESTDIR/usr/lib/udev/rules.d"
cat >"$DESTDIR/usr/lib/udev/rules.d/80-drivers.rules" <<'RULES'
# initramfs-client.sh: drivers are loaded by modprobe (the tool under test), not libkmod
ACTION!="add", GOTO="drivers_end"
ENV{MODALIAS}=="?*", RUN+="/usr/sbin/modprobe -b $env{MODALIAS}"
LABEL="drivers_end"
RULES
EOF
chmod 755 "$work/conf/hooks/rkmod-client"

# --- 1. mkinitramfs in a private mount namespace ------------------------------------------------
initrd=$out/initrd.img
host_tools=$(ls -l /usr/sbin/modprobe /usr/sbin/depmod; ls -la /lib/modules /boot)
log "mkinitramfs for $kver with $tools's modprobe and depmod ($real_modprobe)"
# shellcheck disable=SC2016 # expanded by the inner bash
RKMOD_CLIENT_TOOLS=$tools RKMOD_CLIENT_MODPROBE=$(readlink -f "$real_modprobe") \
	RKMOD_CLIENT_WRAPPER=$work/image-modprobe \
	unshare -m --propagation private bash -euc '
	work=$1 kdir=$2 kver=$3 initrd=$4
	mount -t overlay rkmod-sbin -o "lowerdir=$work/sbin:/usr/sbin" /usr/sbin
	mount -t overlay rkmod-modules -o "lowerdir=$work/lib-modules:/lib/modules" /lib/modules
	mount --bind "$kdir/lib/modules/$kver" "/lib/modules/$kver"
	mount --bind "$kdir/boot" /boot
	# Proof that the overlay is in place before anything runs.
	/usr/sbin/modprobe -V >/dev/null
	TMPDIR=$work mkinitramfs -v -d "$work/conf" -o "$initrd" "$kver"
	' bash "$work" "$kdir" "$kver" "$initrd" >"$out/mkinitramfs.log" 2>&1
rc=$?
check mkinitramfs "exit $rc (log: $out/mkinitramfs.log)" test "$rc" -eq 0
check host-untouched "the host's /usr/sbin/{modprobe,depmod}, /lib/modules, /boot as before" \
	test "$(ls -l /usr/sbin/modprobe /usr/sbin/depmod; ls -la /lib/modules /boot)" = "$host_tools"
if ((rc)); then
	tail -n 30 "$out/mkinitramfs.log" | sed 's/^/    | /'
	finish
fi
cp "$trace" "$out/host-trace.log"
n_sd=$(grep -c -- '--show-depends' "$trace")
check show-depends-called "$n_sd modprobe --show-depends calls by the hooks" test "$n_sd" -ge 2
check show-depends-ok "every one exited 0" test -z "$(grep -- '--show-depends' "$trace" | grep -v ' rc=0$')"
check show-depends-virtio "virtio_blk asked for" grep -q -- '--show-depends.* virtio_blk' "$trace"
check show-depends-ext4 "ext4 asked for" grep -q -- '--show-depends.* ext4' "$trace"
check depmod-called "depmod -a -b DESTDIR $kver, exit 0" grep -qE "^depmod -a -b .* $kver rc=0$" "$trace"
sed 's/^/    host| /' "$trace"

# --- 2. what is in the image --------------------------------------------------------------------
unpacked=$work/unpacked
unmkinitramfs "$initrd" "$unpacked" 2>>"$out/mkinitramfs.log"
img=$unpacked
[[ -d $unpacked/main ]] && img=$unpacked/main
check image-wrapper "/usr/sbin/modprobe is the logging wrapper" cmp -s "$img/usr/sbin/modprobe" "$work/image-modprobe"
if [[ $tools == rk ]]; then
	check image-tool "the wrapper runs rkmod's modprobe ($real_modprobe)" \
		cmp -s "$img/usr/lib/rkmod-client/modprobe" "$real_modprobe"
else
	check image-tool "the wrapper runs kmod" test "$(readlink "$img/usr/lib/rkmod-client/modprobe")" = /usr/bin/kmod
fi
imgmods=$img/lib/modules/$kver
for m in virtio_pci virtio_blk ext4 jbd2 mbcache crc16 crc32c_generic; do
	check "image-has-$m" "in the image's modules.dep" grep -q "/$m\\.ko:" "$imgmods/modules.dep"
done
# deps NAME DIR: NAME's dependencies in DIR/modules.dep, as sorted file names.
deps() { grep "/$1\.ko:" "$2/modules.dep" | cut -d: -f2 | tr ' ' '\n' | sed 's|.*/||' | sort | tr '\n' ' '; }
for m in virtio_blk virtio_pci ext4; do
	check "image-deps-$m" "[$(deps "$m" "$imgmods")] as in the Debian tree" \
		test "$(deps "$m" "$imgmods")" = "$(deps "$m" "$kdir/lib/modules/$kver")"
done
check image-dep-bin "modules.dep.bin and modules.alias.bin written" test -s "$imgmods/modules.dep.bin" -a -s "$imgmods/modules.alias.bin"
echo "    image: $(du -k "$initrd" | cut -f1) KiB, $(find "$imgmods" -name '*.ko' | wc -l) modules"

# --- 3. the root file system and the boot -------------------------------------------------------
root=$work/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,run,tmp,etc}
install -m 755 "$(command -v busybox)" "$root/bin/busybox"
for a in sh mount cat echo poweroff sync sed cut grep; do ln -s busybox "$root/bin/$a"; done
cat >"$root/sbin/init" <<'EOF'
#!/bin/sh
# The root file system's init (initramfs-client.sh): say what the initramfs left, power off.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "RKCLIENT-ROOT $(grep ' / ' /proc/mounts)"
while read -r line; do echo "RKCLIENT-MODPROBE $line"; done </run/rkmod-client.log
while read -r m _; do echo "RKCLIENT-MODULE $m"; done </proc/modules
echo "RKCLIENT-OK root file system reached"
sync
poweroff -f
EOF
chmod 755 "$root/sbin/init"
rootimg=$work/root.ext4
mkfs.ext4 -q -F -L rkclient -d "$root" "$rootimg" 32M >>"$out/mkinitramfs.log" 2>&1 ||
	{ fail "mkfs.ext4 -d failed"; finish; }

logf=$out/console.log
qemu=(qemu-system-x86_64 -accel tcg -m 768 -smp 1 -nographic -no-reboot -nic none
	-kernel "$vmlinuz" -initrd "$initrd" -drive "file=$rootimg,if=virtio,format=raw"
	-append "root=/dev/vda ro console=ttyS0 panic=-1 no_timer_check")
log "booting $kver from the initramfs (console: $logf)"
t0=$SECONDS
"$here/watchdog.sh" "$stall_s" "$timeout_s" "$logf" "${qemu[@]}"
qrc=$?
log "qemu exited $qrc after $((SECONDS - t0)) s"
tr -d '\r' <"$logf" >"$logf.txt"
check boot-finished "qemu exited 0 (watchdog: 124/125)" test "$qrc" -eq 0
check no-watchdog "the console never went silent" not_grep 'RKMOD-WATCHDOG' "$logf.txt"
check no-panic "no Kernel panic, oops, BUG or WARNING" not_grep -E 'Kernel panic|Oops|BUG:|WARNING:' "$logf.txt"
check root-reached "RKCLIENT-OK: the root file system's init ran" grep -q '^RKCLIENT-OK' "$logf.txt"
check root-on-vda "/ is /dev/vda, ext4" grep -qE '^RKCLIENT-ROOT /dev/vda / ext4 ' "$logf.txt"
# by CALL_ERE MODULE: a successful modprobe call matching CALL_ERE ran while MODULE appeared
# (udev runs several at once, so a line may also list modules that another call loaded).
# shellcheck disable=SC2317 # called through check
by() { grep -qE "^RKCLIENT-MODPROBE modprobe $1 rc=0 appeared:.* $2( |\$)" "$logf.txt"; }
# ext4 also needs crc32c for its metadata checksums: its "softdep pre: crypto-crc32c".
for m in virtio_pci virtio_blk ext4 jbd2 mbcache crc16 crc32c_generic; do
	check "loaded-$m" "in /proc/modules" grep -qx "RKCLIENT-MODULE $m" "$logf.txt"
done
check modalias-virtio_pci "udev: modprobe -b pci:v00001AF4d00001001... loaded virtio_pci" \
	by '-b pci:v00001AF4d00001001[^ ]*' virtio_pci
check modalias-virtio_blk "udev: modprobe -b virtio:d00000002v00001AF4 loaded virtio_blk" \
	by '-b virtio:d00000002v00001AF4' virtio_blk
for m in ext4 jbd2 mbcache crc16 crc32c_generic; do
	check "conf-modules-$m" "/conf/modules: modprobe ext4 loaded $m" by ext4 "$m"
done
# Nothing but modprobe loads modules here (udev's libkmod builtin is replaced, the kernel's
# request_module runs /sbin/modprobe): every module appeared during a logged call.
orphans=''
for m in $(sed -n 's/^RKCLIENT-MODULE //p' "$logf.txt"); do
	grep -qE "^RKCLIENT-MODPROBE .* appeared:.* $m( |\$)" "$logf.txt" || orphans+=" $m"
done
check all-by-modprobe "every loaded module appeared during a modprobe call${orphans:+; not:$orphans}" test -z "$orphans"
grep '^RKCLIENT-MODPROBE' "$logf.txt" | grep -v ' appeared:$' | sed 's/^/    vm| /'
finish
