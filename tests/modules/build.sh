#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the rkmod test kernel modules and refresh tests/fixtures/.
#
#   tests/modules/build.sh            # build, strip, compress, sign, verify,
#                                     # regenerate tests/fixtures/bad/, README
#
# Environment overrides:
#   KDIR       kernel build tree   (default /usr/src/linux-headers-6.1.0-50-amd64)
#   SIGN_FILE  sign-file binary    (default /usr/lib/linux-kbuild-6.1/scripts/sign-file)
#   BUILD_DIR  scratch build dir   (default /tmp/rkmod-test-modules-build; it is
#              wiped; a FIXED path keeps DWARF paths, hence .note.gnu.build-id,
#              and therefore every fixture byte-for-byte reproducible)
#   SKIP_BAD=1 do not regenerate tests/fixtures/bad/
#
# Order matters: strip --strip-debug FIRST, then sign (sign-file appends the
# signature trailer; stripping afterwards would destroy it), then compress.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIX=$(cd "$HERE/../fixtures" 2>/dev/null && pwd) || { mkdir -p "$HERE/../fixtures"; FIX=$(cd "$HERE/../fixtures" && pwd); }
KDIR=${KDIR:-/usr/src/linux-headers-6.1.0-50-amd64}
SIGN_FILE=${SIGN_FILE:-/usr/lib/linux-kbuild-6.1/scripts/sign-file}
BUILD_DIR=${BUILD_DIR:-/tmp/rkmod-test-modules-build}
KEY=$HERE/signing/signing_key.pem
CERT=$HERE/signing/signing_key.x509
SIGNER="rkmod test signing key"
MAGIC='~Module signature appended~'

die() { echo "build.sh: ERROR: $*" >&2; exit 1; }
note() { echo "build.sh: $*" >&2; }

# ---------------------------------------------------------------- preflight
[ -f "$KDIR/Makefile" ] || die "kernel headers not found: $KDIR/Makefile missing (apt-get install linux-headers-6.1.0-50-amd64, or set KDIR)"
[ -f "$KDIR/Module.symvers" ] || die "$KDIR/Module.symvers missing (incomplete kernel headers)"
[ -f "$KDIR/include/config/auto.conf" ] || die "$KDIR/include/config/auto.conf missing (headers not prepared)"
[ -x "$SIGN_FILE" ] || die "sign-file not found/executable: $SIGN_FILE (apt-get install linux-kbuild-6.1)"
[ -f "$KEY" ] && [ -f "$CERT" ] || die "test signing key missing: run $HERE/signing/gen-key.sh"
for tool in make strip readelf xz zstd gzip openssl python3 cmp; do
	command -v "$tool" >/dev/null || die "required tool not found: $tool"
done
case "$BUILD_DIR" in
/*) ;;
*) die "BUILD_DIR must be absolute: $BUILD_DIR" ;;
esac
[ "$BUILD_DIR" != / ] || die "refusing BUILD_DIR=/"

MODULES=$(sed -n 's/^obj-m[[:space:]]*+=[[:space:]]*\(rk_[a-z_]*\)\.o[[:space:]]*$/\1/p' "$HERE/Kbuild")
[ -n "$MODULES" ] || die "no modules listed in $HERE/Kbuild"

# -------------------------------------------------------------------- build
note "building in $BUILD_DIR against $KDIR"
rm -rf "$BUILD_DIR"
mkdir -p "$BUILD_DIR"
cp "$HERE"/Kbuild "$HERE"/Makefile "$HERE"/*.c "$HERE"/*.h "$BUILD_DIR"/
make -C "$KDIR" M="$BUILD_DIR" modules
for m in $MODULES; do
	[ -f "$BUILD_DIR/$m.ko" ] || die "build did not produce $m.ko"
done

# ------------------------------------------------- strip, install, compress
# Remove previous generated module fixtures (only ours: rk_*).
rm -f "$FIX"/rk_*.ko "$FIX"/rk_*.ko.xz "$FIX"/rk_*.ko.zst "$FIX"/rk_*.ko.gz

for m in $MODULES; do
	cp "$BUILD_DIR/$m.ko" "$FIX/$m.ko"
	strip --strip-debug "$FIX/$m.ko"
	chmod 0644 "$FIX/$m.ko"
done

compress_xz()   { xz --check=crc32 --lzma2=dict=1MiB -c "$1" >"$1.xz"; }   # as kbuild's Makefile.modinst
compress_zst()  { zstd -q -c --no-progress "$1" >"$1.zst"; }
compress_gz()   { gzip -n -c "$1" >"$1.gz"; }                             # -n: no name/mtime

compress_xz "$FIX/rk_basic.ko"
compress_zst "$FIX/rk_basic.ko"
compress_gz "$FIX/rk_basic.ko"

# --------------------------------------------------------------------- sign
# sign-file <hash> <key> <x509> <module> [<dest>]; input is the STRIPPED module.
"$SIGN_FILE" sha256 "$KEY" "$CERT" "$FIX/rk_basic.ko" "$FIX/rk_basic_signed.ko"
chmod 0644 "$FIX/rk_basic_signed.ko"
compress_xz "$FIX/rk_basic_signed.ko"

# ------------------------------------------------------------------- verify
# Expected defined GLOBAL symbols (Y = must be defined, N = must be absent/undefined)
#            init_module cleanup_module __exitfn __force_exitfn
declare -A EXPECT=(
	[rk_basic]="Y Y N N"
	[rk_permanent]="Y N N N"
	[rk_neither]="N N N N"
	[rk_exitonly]="N Y N N"
	[rk_provider]="Y Y N N"
	[rk_consumer]="Y Y N N"
	[rk_chardev]="Y Y N N"
	[rk_initfail]="Y Y N N"
	[rk_legacy]="Y Y N Y"
	[rk_legacy_safe]="Y Y Y N"
	[rk_legacy_force]="Y N N Y"
	[rk_symget]="Y Y N N"
	[rk_misc_noowner]="Y Y N N"
	[rk_chrdev_noowner]="Y Y N N"
	[rk_chrdev_owner]="Y Y N N"
	[rk_debugfs_noowner]="Y Y N N"
	[rk_debugfs_owner]="Y Y N N"
	[rk_cdev_owner]="Y Y N N"
	[rk_notifier_leak]="Y Y N N"
	[rk_notifier_paired]="Y Y N N"
	[rk_provider_plain]="Y Y N N"
	[rk_symget_plain]="Y Y N N"
)

defined_sym() { # file name -> prints Y/N: defined (non-UND) symbol of that name
	if readelf -W -s "$1" | awk -v n="$2" '$8 == n && $7 != "UND" { f = 1 } END { exit !f }'; then
		echo Y
	else
		echo N
	fi
}

this_module_relocs() { # file -> symbol names relocated in .rela.gnu.linkonce.this_module
	readelf -W -r "$1" | awk '
		/^Relocation section/ { insec = ($3 == "'"'"'.rela.gnu.linkonce.this_module'"'"'") ; next }
		insec && NF >= 5 && $1 ~ /^[0-9a-f]+$/ { print $5 }'
}

for m in $MODULES; do
	f=$FIX/$m.ko
	[ -n "${EXPECT[$m]:-}" ] || die "no expectation recorded for $m (update EXPECT in build.sh)"
	read -r e_init e_exit e_exitfn e_force <<<"${EXPECT[$m]}"
	got="$(defined_sym "$f" init_module) $(defined_sym "$f" cleanup_module) $(defined_sym "$f" __exitfn) $(defined_sym "$f" __force_exitfn)"
	[ "$got" = "${EXPECT[$m]}" ] || die "$m: symbols init/cleanup/__exitfn/__force_exitfn = '$got', expected '${EXPECT[$m]}'"
	relocs=$(this_module_relocs "$f" | sort | tr '\n' ' ')
	want=""
	[ "$e_exit" = Y ] && want+="cleanup_module "
	[ "$e_init" = Y ] && want+="init_module "
	[ "$relocs" = "$want" ] || die "$m: .rela.gnu.linkonce.this_module relocs '$relocs', expected '$want'"
	readelf -n "$f" | grep -q 'Build ID' || die "$m: no .note.gnu.build-id"
	readelf -W -S "$f" | grep -q '\.debug_' && die "$m: still has .debug_* sections after strip"
	[ "$(modinfo -F name "$f")" = "$m" ] || die "$m: modinfo name mismatch"
	[ "$(modinfo -F license "$f")" = GPL ] || die "$m: modinfo license mismatch"
	note "ok: $m (init=$e_init cleanup=$e_exit __exitfn=$e_exitfn __force_exitfn=$e_force)"
done

# rk_consumer links against rk_provider; rk_symget must NOT (run-time symbol_get only)
[ "$(modinfo -F depends "$FIX/rk_consumer.ko")" = rk_provider ] || die "rk_consumer: depends != rk_provider"
[ -z "$(modinfo -F depends "$FIX/rk_symget.ko")" ] || die "rk_symget: unexpected depends"
readelf -W -s "$FIX/rk_consumer.ko" | grep -q ' UND rk_provider_value$' || die "rk_consumer: no UND rk_provider_value"
readelf -W -s "$FIX/rk_symget.ko" | grep -q ' UND __symbol_get$' || die "rk_symget: no UND __symbol_get"

# signed module: trailer present, modinfo parses it, ELF part == unsigned stripped module
[ "$(tail -c 28 "$FIX/rk_basic_signed.ko" | head -c 27)" = "$MAGIC" ] || die "rk_basic_signed.ko: no signature magic"
[ "$(modinfo -F signer "$FIX/rk_basic_signed.ko")" = "$SIGNER" ] || die "rk_basic_signed.ko: modinfo signer mismatch"
[ "$(modinfo -F sig_hashalgo "$FIX/rk_basic_signed.ko")" = sha256 ] || die "rk_basic_signed.ko: sig_hashalgo != sha256"
cmp -s -n "$(stat -c %s "$FIX/rk_basic.ko")" "$FIX/rk_basic.ko" "$FIX/rk_basic_signed.ko" || die "rk_basic_signed.ko: ELF part differs from rk_basic.ko"

# compressed copies round-trip
xz -dc "$FIX/rk_basic.ko.xz" | cmp -s - "$FIX/rk_basic.ko" || die "rk_basic.ko.xz does not round-trip"
zstd -dcq "$FIX/rk_basic.ko.zst" | cmp -s - "$FIX/rk_basic.ko" || die "rk_basic.ko.zst does not round-trip"
gzip -dc "$FIX/rk_basic.ko.gz" | cmp -s - "$FIX/rk_basic.ko" || die "rk_basic.ko.gz does not round-trip"
xz -dc "$FIX/rk_basic_signed.ko.xz" | cmp -s - "$FIX/rk_basic_signed.ko" || die "rk_basic_signed.ko.xz does not round-trip"
xz -lvv "$FIX/rk_basic.ko.xz" | grep -q 'CRC32' || die "rk_basic.ko.xz: check is not CRC32"
# Debian's kmod 30 is built "+ZSTD +XZ -ZLIB": its modinfo cannot read .ko.gz.
# Only check the formats this kmod was built with.
kmod_features=$(kmod --version 2>/dev/null | tail -n 1 || true)
for z in rk_basic.ko.xz rk_basic.ko.zst rk_basic.ko.gz rk_basic_signed.ko.xz; do
	case "$z" in
	*.xz) feat=XZ ;;
	*.zst) feat=ZSTD ;;
	*.gz) feat=ZLIB ;;
	esac
	case " $kmod_features " in
	*" +$feat "*) ;;
	*) note "skipping modinfo check of $z (kmod built without $feat: $kmod_features)"; continue ;;
	esac
	[ "$(modinfo -F name "$FIX/$z")" = rk_basic ] || die "modinfo cannot read $z"
done
note "verification passed"

# ---------------------------------------------------------- bad/ fixtures
if [ "${SKIP_BAD:-0}" != 1 ]; then
	"$FIX/bad/make.sh"
fi

# ------------------------------------------------------------------ README
"$HERE/gen-fixtures-readme.sh"

note "done; fixtures in $FIX:"
du -sh "$FIX" >&2
