#!/usr/bin/env bash
# Fetch the Debian kernel module trees that tests/conformance.rs and bench/modinfo.sh compare
# against kmod: Debian 12's kmod 30 (installed) and Debian 13's kmod 34.2 (run from the
# extracted packages, see the last section).
#
#   tests/debian/fetch.sh [DEST]      DEST defaults to ${RKMOD_DEBIAN_DIR:-<repo>/target/debian}
#
# Layout produced (the conformance test relies on it):
#   DEST/debs/*.deb                              the downloaded packages
#   DEST/6.1/lib/modules/6.1.0-50-amd64/         plain .ko tree, indexed by depmod
#   DEST/6.12/lib/modules/6.12.107+deb12-amd64/  .ko.xz tree, indexed by depmod
#   DEST/stamp                                   written last; lists the package versions
#   DEST/kmod34/bin/{modinfo,depmod,...}         kmod 34.2 wrappers (see the last section)
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

# --- kmod 34.2, run from Debian 13's packages ----------------------------------------------------
# rkmod follows kmod 34, so tests compare against kmod 34.2 itself, not against kmod 30 plus a list
# of known differences. Debian 13 (trixie) ships it. Its binaries need trixie's C library, so
# they run through trixie's own dynamic loader, pointed at trixie's libraries only; nothing is
# installed and nothing is built. Layout:
#   DEST/kmod34/apt/         private apt configuration, package lists and cache
#   DEST/kmod34/debs/        the downloaded packages
#   DEST/kmod34/usr/, etc/   the packages extracted
#   DEST/kmod34/bin/TOOL     wrappers: modinfo depmod modprobe insmod rmmod lsmod kmod
#   DEST/kmod34/stamp        written last; lists the package versions
# The system's apt state (/etc/apt, /var/lib/apt, /var/cache/apt) is only read, never written.
kmod34_version=34.2
# kmod and its library; the C library and loader; libkmod's dlopen'ed decompressors (liblzma,
# libzstd); libcrypto for signatures and what libcrypto needs (libzstd, zlib). The NEEDED check
# below fails if this list ever falls short.
# liblzma-dev is not for kmod: its static liblzma 5.8 is what `make build` links rkmod's xz2
# with (see the Makefile), through DEST/kmod34/pkgconfig/liblzma.pc.
kmod34_pkgs=(kmod libkmod2 libc6 liblzma5 libzstd1 libssl3t64 zlib1g liblzma-dev)
r34="$dest/kmod34"

kmod34_ok() {
    [[ -f $r34/stamp && -x $r34/bin/modinfo && -f $r34/pkgconfig/liblzma.pc ]] &&
        [[ $("$r34/bin/modinfo" -V 2>/dev/null | head -n1) == "kmod version $kmod34_version" ]]
}

# The archive this machine already uses: the first "deb" source whose suites include this
# system's codename, in one-line (.list) or deb822 (.sources) format. RKMOD_DEBIAN_MIRROR
# overrides it.
system_mirror() {
    local codename f
    codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
    [[ -n $codename ]] || die "no VERSION_CODENAME in /etc/os-release"
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        # deb [opt=val ...] URI SUITE COMPONENT...
        awk -v c="$codename" '$1 == "deb" {
            i = 2
            if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
            if ($(i + 1) == c) { print $i; exit }
        }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        awk -v c="$codename" 'BEGIN { RS = ""; FS = "\n" } {
            uri = ""; deb = 0; suite = 0; off = 0
            for (j = 1; j <= NF; j++) {
                n = split($j, w, /[ \t]+/)
                if (w[1] == "URIs:") uri = w[2]
                if (w[1] == "Types:") for (k = 2; k <= n; k++) if (w[k] == "deb") deb = 1
                if (w[1] == "Suites:") for (k = 2; k <= n; k++) if (w[k] == c) suite = 1
                if (w[1] == "Enabled:" && w[2] == "no") off = 1
            }
            if (uri != "" && deb && suite && !off) { print uri; exit }
        }' "$f"
    done
}

if kmod34_ok; then
    log "have $r34 ($("$r34/bin/modinfo" -V | head -n1))"
else
    tmp="$r34.tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp/apt/lists/partial" "$tmp/apt/cache/archives/partial" "$tmp/debs"
    mirror=${RKMOD_DEBIAN_MIRROR:-$(system_mirror | head -n1)}
    [[ -n $mirror ]] || die "found no Debian archive in /etc/apt/sources.list{,.d/*}; set RKMOD_DEBIAN_MIRROR"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    opts=
    [[ -f $keyring ]] && opts=" [signed-by=$keyring]"
    printf 'deb%s %s trixie main\n' "$opts" "$mirror" >"$tmp/apt/sources.list"
    apt34=(
        -q
        -o "Dir::Etc::sourcelist=$tmp/apt/sources.list"
        -o Dir::Etc::sourceparts=/dev/null
        -o "Dir::State::lists=$tmp/apt/lists"
        -o "Dir::Cache=$tmp/apt/cache"
        -o APT::Architectures=amd64
        -o APT::Sandbox::User=root
    )
    log "apt-get update (private lists, trixie from $mirror)"
    apt-get "${apt34[@]}" update >&2
    pushd "$tmp/debs" >/dev/null
    # pkg/trixie, so the bookworm versions this machine knows about can never be picked.
    apt-get "${apt34[@]}" download "${kmod34_pkgs[@]/%//trixie}" >&2
    popd >/dev/null
    versions34=()
    for pkg in "${kmod34_pkgs[@]}"; do
        debs=("$tmp/debs/${pkg}"_*.deb)
        [[ -f ${debs[0]} ]] || die "apt-get download did not produce $pkg"
        dpkg-deb -x "${debs[0]}" "$tmp"
        versions34+=("$pkg $(dpkg-deb -f "${debs[0]}" Version)")
    done
    libdir="$tmp/usr/lib/x86_64-linux-gnu"
    [[ -x $tmp/usr/bin/kmod && -e $tmp/usr/lib64/ld-linux-x86-64.so.2 ]] ||
        die "the extracted packages lack usr/bin/kmod or the dynamic loader"

    # Every library kmod loads must come from the extracted tree: walk DT_NEEDED from the
    # binary, plus the decompressors libkmod dlopens, and require each to be in libdir.
    queue=("$tmp/usr/bin/kmod" "$libdir/liblzma.so.5" "$libdir/libzstd.so.1")
    seen=" "
    while ((${#queue[@]})); do
        obj=${queue[0]} && queue=("${queue[@]:1}")
        [[ -e $obj ]] || die "kmod $kmod34_version needs $(basename "$obj"), which no package in (${kmod34_pkgs[*]}) provides"
        for soname in $(readelf -dW "$obj" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            [[ $seen == *" $soname "* ]] && continue
            seen+="$soname "
            queue+=("$libdir/$soname")
        done
    done

    # One wrapper per tool name: kmod picks the tool from argv[0], which --argv0 sets.
    mkdir -p "$tmp/bin"
    for tool in modinfo depmod modprobe insmod rmmod lsmod kmod; do
        cat >"$tmp/bin/$tool" <<WRAPPER
#!/bin/sh
# kmod $kmod34_version from Debian 13, through its own loader and libraries (tests/debian/fetch.sh).
r=\$(dirname "\$(dirname "\$(readlink -f "\$0")")")
exec "\$r/usr/lib64/ld-linux-x86-64.so.2" --library-path "\$r/usr/lib/x86_64-linux-gnu" \\
    --argv0 $tool "\$r/usr/bin/kmod" "\$@"
WRAPPER
        chmod +x "$tmp/bin/$tool"
    done
    got=$("$tmp/bin/modinfo" -V | head -n1) || die "$tmp/bin/modinfo -V failed"
    [[ $got == "kmod version $kmod34_version" ]] || die "$tmp/bin/modinfo -V says '$got', not kmod version $kmod34_version"
    # pkg-config's description of the static liblzma, pointing into DEST/kmod34 wherever it
    # is moved: the prefix is computed from the .pc file's own place.
    [[ -f $libdir/liblzma.a && -f $tmp/usr/include/lzma.h ]] || die "liblzma-dev lacks liblzma.a or lzma.h"
    mkdir -p "$tmp/pkgconfig"
    lzma_version=$(sed -n 's/^Version: //p' "$libdir/pkgconfig/liblzma.pc")
    cat >"$tmp/pkgconfig/liblzma.pc" <<PC
prefix=\${pcfiledir}/../usr
libdir=\${prefix}/lib/x86_64-linux-gnu
includedir=\${prefix}/include

Name: liblzma
Description: liblzma $lzma_version from Debian 13's liblzma-dev (tests/debian/fetch.sh)
Version: $lzma_version
Cflags: -I\${includedir} -DLZMA_API_STATIC
Libs: -L\${libdir} -llzma
Libs.private: -pthread
PC
    # The apt state is only needed to download; the packages stay for reference.
    rm -rf "$tmp/apt"
    printf '%s\n' "${versions34[@]}" >"$tmp/stamp"
    rm -rf "$r34"
    mv "$tmp" "$r34"
    kmod34_ok || die "$r34 does not work after moving it into place"
    log "made $r34 ($("$r34/bin/modinfo" -V | tr '\n' ' '))"
fi
