#!/usr/bin/env bash
# Fetch the Debian kernel module trees that tests/conformance.rs and bench/modinfo.sh compare
# against Debian's kmod 30.
#
#   tests/debian/fetch.sh [DEST]      DEST defaults to ${RKMOD_DEBIAN_DIR:-<repo>/target/debian}
#
# Layout produced (the conformance test relies on it):
#   DEST/debs/*.deb                              the downloaded packages
#   DEST/6.1/lib/modules/6.1.0-50-amd64/         plain .ko tree, indexed by depmod
#   DEST/6.12/lib/modules/6.12.107+deb12-amd64/  .ko.xz tree, indexed by depmod
#   DEST/stamp                                   written last; lists the package versions
#
# Idempotent: every step is skipped when its result is already there, so re-running is cheap.
# Any failure is fatal, in CI and outside it alike: the script is only ever run on purpose.
set -euo pipefail

log() { printf 'fetch.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dest=${1:-${RKMOD_DEBIAN_DIR:-$repo/target/debian}}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)   # absolute, so kmod prints the same paths whatever the caller's cwd

# short name, package, kernel version. Two trees on purpose: 6.1 ships plain .ko files, 6.12
# ships .ko.xz, so both the raw and the decompressing code paths are exercised. The "-unsigned"
# packages are still signed (PKCS#7, RSA in 6.1 and ECDSA in 6.12); only Secure Boot's own
# signature on vmlinuz is missing.
trees=(
    "6.1  linux-image-6.1.0-50-amd64-unsigned          6.1.0-50-amd64"
    "6.12 linux-image-6.12.107+deb12-amd64-unsigned    6.12.107+deb12-amd64"
)

# --- tools ---------------------------------------------------------------------------------------
# command -> Debian package providing it. modinfo/depmod are the reference kmod, readelf checks
# build-ids independently of our ELF parser, xz decompresses .ko.xz for readelf.
need=(
    "modinfo:kmod" "depmod:kmod" "readelf:binutils" "xz:xz-utils"
    "dpkg-deb:dpkg" "apt-get:apt"
)
PATH=$PATH:/usr/sbin:/sbin   # depmod/modinfo live in /sbin, which a non-root PATH may lack

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

# `apt-get update` is slow and needs the network, so run it at most once and only after a
# command has failed (a fresh container has no package lists; an old one may have stale ones).
apt_updated=
apt_retry() {
    if "$@"; then return 0; fi
    [[ -n $apt_updated ]] && return 1
    log "'$*' failed; running apt-get update and retrying"
    as_root apt-get update -q
    apt_updated=1
    "$@"
}

missing=()
for pair in "${need[@]}"; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null || missing+=("$pkg")
done
if ((${#missing[@]})); then
    log "installing missing packages: ${missing[*]}"
    apt_retry as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
log "tools: $(command -v modinfo) ($(modinfo -V | head -n1)), $(command -v readelf), $(command -v xz)"

# --- packages ------------------------------------------------------------------------------------
mkdir -p "$dest/debs"
for line in "${trees[@]}"; do
    read -r short pkg kver <<<"$line"
    debs=("$dest/debs/${pkg}"_*.deb)
    if [[ -f ${debs[0]} ]]; then
        log "have $(basename "${debs[0]}")"
        continue
    fi
    log "downloading $pkg"
    # Download into a scratch directory and move into place afterwards, so an interrupted run
    # never leaves a truncated .deb that the check above would take as complete.
    partial="$dest/debs/.partial"
    rm -rf "$partial" && mkdir -p "$partial"
    # apt-get download writes to the cwd; as root it warns that the _apt sandbox user cannot
    # write there, which is harmless.
    pushd "$partial" >/dev/null
    apt_retry apt-get download -q "$pkg"
    popd >/dev/null
    mv "$partial"/*.deb "$dest/debs/"
    rmdir "$partial"
done

# --- extract and index ---------------------------------------------------------------------------
versions=()
for line in "${trees[@]}"; do
    read -r short pkg kver <<<"$line"
    debs=("$dest/debs/${pkg}"_*.deb)
    deb=${debs[0]}
    versions+=("$pkg $(dpkg-deb -f "$deb" Version)")
    root="$dest/$short"
    moddir="$root/lib/modules/$kver"
    if [[ -d $moddir ]]; then
        log "have $moddir"
    else
        log "extracting $(basename "$deb") into $root"
        # Extract beside the target and rename, for the same reason as the download above.
        rm -rf "$root.tmp"
        dpkg-deb -x "$deb" "$root.tmp"
        [[ -d $root.tmp/lib/modules/$kver ]] || die "$deb has no lib/modules/$kver"
        rm -rf "$root"
        mv "$root.tmp" "$root"
    fi
    if [[ -f $moddir/modules.dep.bin ]]; then
        log "have $moddir/modules.dep.bin"
    else
        # The package ships no modules.* indexes (the postinst makes them on install), and
        # every name, alias and builtin lookup needs them.
        # -C: an empty configuration; the host's /etc/depmod.d must not shape these indexes.
        log "depmod -C (empty) -b $root $kver"
        mkdir -p "$root.depmod.d"
        depmod -C "$root.depmod.d" -b "$root" "$kver"
        rmdir "$root.depmod.d"
    fi
done

printf '%s\n' "${versions[@]}" >"$dest/stamp"
log "done: $dest ($(wc -l <"$dest/stamp") trees)"
