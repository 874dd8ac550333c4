#!/usr/bin/env bash
# Installs the rkmod .deb into a scratch copy of this Debian system and checks rkmod-switch:
# nothing switched at install, `rkmod-switch rkmod` diverts each tool rkmod has and links it
# to rkmod, `rkmod-switch kmod` and removing the package give kmod's files back exactly
# (`dpkg --verify kmod`). The scratch root is an overlay of / in a private mount namespace,
# so dpkg's database and /sbin of the real system are never written.
#
#   packaging/deb/test-switch.sh DEB
#
# Needs root, unshare (util-linux), overlayfs, and kmod installed. Prints one line per check;
# exit status 1 if any failed, 2 if it could not run.
set -euo pipefail
[[ $# -eq 1 && -f $1 ]] || { echo "usage: $0 DEB" >&2; exit 2; }
deb=$(realpath "$1")
if [[ ${RKMOD_SWITCH_INSIDE:-} != 1 ]]; then
	[[ $(id -u) -eq 0 ]] || { echo "test-switch.sh: needs root (mount namespaces, overlayfs)" >&2; exit 2; }
	dpkg-query -W -f '${Status}\n' kmod 2>/dev/null | grep -q ' installed$' ||
		{ echo "test-switch.sh: kmod is not installed here" >&2; exit 2; }
	exec env RKMOD_SWITCH_INSIDE=1 unshare --mount --propagation private "$0" "$deb"
fi

scratch=$(mktemp -d)
trap 'umount -R "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
mount -t tmpfs rkmod-switch "$scratch"
mkdir "$scratch/upper" "$scratch/work" "$scratch/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$scratch/upper,workdir=$scratch/work" "$scratch/root" ||
	{ echo "test-switch.sh: cannot mount an overlay of /" >&2; exit 2; }
for d in proc dev sys; do mount --rbind "/$d" "$scratch/root/$d"; done
cp "$deb" "$scratch/root/tmp/rkmod.deb"

failed=0
in_root() { chroot "$scratch/root" "$@"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1; shift
	if "$@" >/dev/null 2>&1; then echo "ok: $what"; else echo "FAIL: $what"; failed=1; fi
}
# kmod's paths for the six tools, as its package lists them.
paths=$(in_root dpkg-query -L kmod | grep -E '^(/usr)?/s?bin/(depmod|insmod|lsmod|modinfo|modprobe|rmmod)$')
rkmod_has() { in_root /usr/sbin/rkmod "$1" --version >/dev/null 2>&1; }
all_kmod() { for p in $paths; do [[ $(in_root readlink -f "$p") == */kmod ]] || return 1; done; }
switched() {
	for p in $paths; do
		if rkmod_has "${p##*/}"; then
			[[ $(in_root readlink "$p") == /usr/sbin/rkmod ]] || return 1
			[[ $(in_root readlink -f "$p.kmod") == */kmod ]] || return 1
			in_root "$p" --version | grep -q '^rkmod version' || return 1
		else
			[[ $(in_root readlink -f "$p") == */kmod ]] || return 1
		fi
	done
}
no_diversions() { [[ -z $(in_root dpkg-divert --list rkmod) ]]; }
kmod_intact() { [[ -z $(in_root dpkg --verify kmod) ]] && all_kmod && no_diversions; }

check "dpkg -i installs the package" in_root dpkg -i /tmp/rkmod.deb
check "nothing is switched at install" kmod_intact
check "rkmod-switch rkmod succeeds" in_root rkmod-switch rkmod
check "each tool rkmod has is rkmod's, kmod's kept at NAME.kmod" switched
check "rkmod-switch rkmod again changes nothing" in_root rkmod-switch rkmod
check "... still switched" switched
check "status names rkmod" bash -c "chroot '$scratch/root' rkmod-switch status | grep -q ': rkmod (kmod.s is '"
check "rkmod-switch kmod succeeds" in_root rkmod-switch kmod
check "kmod's files are back exactly (dpkg --verify kmod), no diversion left" kmod_intact
check "switch again before removal" in_root rkmod-switch rkmod
check "dpkg -r rkmod succeeds while switched" in_root dpkg -r rkmod
check "removing the package gave kmod's files back" kmod_intact
exit $failed
