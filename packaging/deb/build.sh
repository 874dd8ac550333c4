#!/usr/bin/env bash
# Builds the Debian package rkmod_<version>_<arch>.deb into OUTDIR (default target/) from
# `make install`, with dpkg-deb alone (no debhelper): the layout is the Makefile's, with
# KMOD_NAMES=private so that no file collides with kmod's (see packaging/README.md).
#
#   packaging/deb/build.sh [OUTDIR]
#
# RKMOD_BIN=path installs that binary instead of building target/release/rkmod.
# Needs dpkg-deb and dpkg-shlibdeps (apt-get install dpkg-dev), strip (binutils), gzip.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mkdir -p "${1:-target}" && cd "${1:-target}" && pwd)

for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing (apt-get install dpkg-dev binutils gzip)" >&2; exit 1; }
done

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
# Reproducible: file times and the changelog date come from the last commit.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
maintainer=${DEBFULLNAME:-rkmod developers}" <"${DEBEMAIL:-rkmod@localhost}">"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root

# MAKEFLAGS from an outer make (make deb) would only add noise.
env -u MAKEFLAGS -u MAKELEVEL make --no-print-directory install DESTDIR="$root" \
  PREFIX=/usr SBINDIR=/usr/sbin KMOD_NAMES=private KMOD_NAMES_DIR=/usr/lib/rkmod >/dev/null

# What debhelper would do: strip, compress man pages, add copyright and changelog (named
# changelog.gz: the version has no Debian revision, so this is a native package).
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/sbin/rkmod"
gzip -9n "$root"/usr/share/man/man8/*.8
doc=$root/usr/share/doc/rkmod
install -d "$doc"
cat >"$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: rkmod

Files: *
Copyright: $(date -u -d "@$SOURCE_DATE_EPOCH" +%Y) the rkmod developers
License: MIT or Apache-2.0

License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all
 copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
 SOFTWARE.
COPYRIGHT
cat <<CHANGELOG | gzip -9n >"$doc/changelog.gz"
rkmod ($version) unstable; urgency=medium

  * Built from the rkmod source tree by packaging/deb/build.sh.

 -- $maintainer  $(date -R -u -d "@$SOURCE_DATE_EPOCH")
CHANGELOG

# The shared libraries the binary links (libc, liblzma, libgcc), as dpkg-shlibdeps names them;
# it wants a debian/control to read, even a minimal one.
mkdir -p "$stage/debian"
printf 'Source: rkmod\n\nPackage: rkmod\nArchitecture: any\n' >"$stage/debian/control"
# A statically linked binary (what `make build` produces) needs none: then no Depends line.
depends=$(cd "$stage" && dpkg-shlibdeps -O -e root/usr/sbin/rkmod 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
if [[ -z $depends ]] && readelf -d "$stage/root/usr/sbin/rkmod" | grep -q NEEDED; then
  echo "build.sh: dpkg-shlibdeps found no dependencies for a dynamically linked binary" >&2
  exit 1
fi

# rkmod-switch makes rkmod's tools the system's (off until an admin runs it); removing the
# package switches back first, so kmod's tools are never left diverted to nothing.
install -m 755 packaging/deb/rkmod-switch "$root/usr/sbin/rkmod-switch"
install -m 644 packaging/deb/rkmod-switch.8 "$root/usr/share/man/man8/rkmod-switch.8"
gzip -9n "$root/usr/share/man/man8/rkmod-switch.8"

install -d "$root/DEBIAN"
cat >"$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -x "$DPKG_ROOT/usr/sbin/rkmod-switch" ]; then
	"$DPKG_ROOT/usr/sbin/rkmod-switch" kmod
fi
PRERM
chmod 755 "$root/DEBIAN/prerm"
cat >"$root/DEBIAN/control" <<CONTROL
Package: rkmod
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
${depends:+Depends: $depends
}Recommends: kmod
Section: admin
Priority: optional
Description: Linux kernel-module tools in Rust (modprobe, depmod, insmod, rmmod, lsmod, modinfo, modaudit)
 rkmod is one binary offering modprobe, depmod, insmod, rmmod, lsmod and
 modinfo, compatible with kmod's (what modprobe and modinfo print and the
 indexes depmod writes, byte for byte),
 and modaudit, which tells from a module file, before anyone loads it, whether
 it can ever be unloaded.
 .
 This package installs beside kmod and replaces none of its files (rkmod-switch
 diverts kmod's tools to rkmod on request). It ships /usr/sbin/rkmod and /usr/sbin/modaudit;
 "rkmod modinfo e1000e" runs rkmod's modinfo. Links named kmod, modprobe, depmod,
 insmod, rmmod, lsmod and modinfo are in /usr/lib/rkmod: put that directory first in
 PATH to make them the default. Their manual pages are rkmod-insmod(8) and so
 on; rkmod-kmod(8) describes "kmod static-nodes", "kmod list" and "kmod help".
CONTROL
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"

deb=$out/rkmod_${version}_${arch}.deb
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
