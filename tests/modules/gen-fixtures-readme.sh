#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Regenerate tests/fixtures/README.md (file list with sizes). Called by build.sh.
# Fails if a fixture has no description below, or a described file is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIX=$(cd "$HERE/../fixtures" && pwd)

declare -A DESC=(
	# ----- good modules (tests/modules/*.c, built by tests/modules/build.sh, strip --strip-debug)
	[rk_basic.ko]="init+exit; MODULE_VERSION 1.0; aliases rk-basic-alias, rkbasic:*; params int_param (int), str_param (charp, desc contains colons), arr_param (array of int), nodesc_param (ushort, no MODULE_PARM_DESC -> only parmtype)"
	[rk_basic.ko.xz]="rk_basic.ko, xz --check=crc32 --lzma2=dict=1MiB (kbuild's flags)"
	[rk_basic.ko.zst]="rk_basic.ko, zstd (default level, with content checksum)"
	[rk_basic.ko.gz]="rk_basic.ko, gzip -n"
	[rk_basic_signed.ko]="rk_basic.ko (stripped first) signed with sign-file sha256 and tests/modules/signing/ test key: PKCS#7 trailer, signer 'rkmod test signing key', sig_key 72:6B:6D:6F:64, sig_hashalgo sha256"
	[rk_basic_signed.ko.xz]="rk_basic_signed.ko, xz --check=crc32 --lzma2=dict=1MiB"
	[rk_permanent.ko]="module_init only: init_module, no cleanup_module -> [permanent] once loaded"
	[rk_neither.ko]="neither init nor exit (const table only): no .rela.gnu.linkonce.this_module at all; unloadable"
	[rk_exitonly.ko]="module_exit only: cleanup_module, no init_module; unloadable"
	[rk_provider.ko]="init+exit; EXPORT_SYMBOL_GPL(rk_provider_value)"
	[rk_consumer.ko]="init+exit; calls rk_provider_value (UND symbol, modinfo depends=rk_provider) -> holders/rk_consumer on rk_provider"
	[rk_chardev.ko]="init+exit; misc device /dev/rk_chardev, fops.owner = THIS_MODULE (an open fd keeps refcnt > 0)"
	[rk_initfail.ko]="init+exit; init returns -EIO"
	[rk_legacy.ko]="init+exit (init_module, cleanup_module) plus GLOBAL __force_exitfn alias of the exit fn (2002 module_fini-proposal deprecated module_exit); no __exitfn"
	[rk_legacy_safe.ko]="init+exit plus GLOBAL __exitfn alias (2002 module_fini() = safe unload hook); no __force_exitfn"
	[rk_legacy_force.ko]="init_module + GLOBAL __force_exitfn alias only; no cleanup_module, no __exitfn -> permanent today; 2002 rules: removable only by forced unload"
	[rk_symget.ko]="init+exit; init does symbol_get(rk_provider_value) with no symbol_put (UND __symbol_get, no depends) -> pins rk_provider at run time"
	[rk_misc_noowner.ko]="init+exit; misc device /dev/rk_misc_noowner, fops WITHOUT owner (modaudit: ownerless-fops; an open fd pins nothing)"
	[rk_chrdev_noowner.ko]="init+exit; register_chrdev, fops WITHOUT owner (ownerless-fops); prints its major"
	[rk_chrdev_owner.ko]="init+exit; the safe twin of rk_chrdev_noowner: fops.owner = THIS_MODULE"
	[rk_debugfs_noowner.ko]="init+exit; debugfs file, fops WITHOUT owner (ownerless-fops, debugfs: low severity)"
	[rk_debugfs_owner.ko]="init+exit; the safe twin of rk_debugfs_noowner: fops.owner = THIS_MODULE"
	[rk_cdev_owner.ko]="init+exit; cdev_init with an ownerless fops, but cdev.owner = THIS_MODULE: safe, not flagged"
	[rk_notifier_leak.ko]="init+exit; register_netdevice_notifier, never unregistered (unpaired-register)"
	[rk_notifier_paired.ko]="init+exit; the safe twin of rk_notifier_leak: exit unregisters"
	[rk_provider_plain.ko]="init+exit; exports rk_provider_plain_value with plain EXPORT_SYMBOL"
	[rk_symget_plain.ko]="init+exit; symbol_get(rk_provider_plain_value): a plain export, so always NULL (symbol-get-non-gpl)"
	# ----- hostile inputs (tests/fixtures/bad/make.sh)
	[bad/empty.ko]="0 bytes"
	[bad/short.ko]="5 bytes: '\\177ELF' + ELFCLASS64, then EOF"
	[bad/notelf.ko]="one line of ASCII text"
	[bad/truncated.ko]="rk_basic.ko cut at e_shoff + e_shnum*64/2 (middle of the section header table)"
	[bad/truncated_head.ko]="first 1000 bytes of rk_basic.ko (valid ELF header, section header table entirely missing)"
	[bad/notmodule.ko]="gcc -O2 -c of a one-function userspace C file (x86-64 ET_REL, no .modinfo, no .gnu.linkonce.this_module)"
	[bad/elf32.ko]="gcc -m32 -O2 -c (i386 ELF32 ET_REL) with a .modinfo section 'license=GPL\\0name=elf32\\0' (section attribute); no gcc-multilib needed for -c"
	[bad/corrupt.ko.xz]="rk_basic.ko.xz with 64 bytes in the middle XOR 0xFF (header/magic and footer intact)"
	[bad/corrupt.ko.zst]="rk_basic.ko.zst with 64 bytes in the middle XOR 0xFF"
	[bad/corrupt.ko.gz]="rk_basic.ko.gz with 64 bytes in the middle XOR 0xFF"
	[bad/bomb.ko.xz]="300 MiB (314572800 bytes) of zeros, xz --check=crc32 --lzma2=dict=1MiB"
	[bad/bomb.ko.zst]="300 MiB of zeros, zstd -19"
	[bad/bomb.ko.gz]="300 MiB of zeros, gzip -n -9 (deflate tops out at ~1030:1)"
	[bad/garbage_sig.ko]="rk_basic.ko + 512 deterministic garbage bytes (SHA-256 counter mode, fixed seed) + struct module_signature {0,0,id_type 2 (PKCS7),0,0,pad,be32 sig_len 512} + '~Module signature appended~\\n'"
	[bad/huge_sig_len.ko]="rk_basic.ko + struct module_signature {id_type 2, be32 sig_len 0xFFFFFFF0} + signature magic (no signature data)"
)

files=$(cd "$FIX" && find . -type f \( -name '*.ko' -o -name '*.ko.*' \) | sed 's|^\./||' | LC_ALL=C sort)
for f in $files; do
	[ -n "${DESC[$f]:-}" ] || { echo "gen-fixtures-readme.sh: no description for $f" >&2; exit 1; }
done
for f in "${!DESC[@]}"; do
	[ -f "$FIX/$f" ] || { echo "gen-fixtures-readme.sh: described file missing: $f" >&2; exit 1; }
done

{
	cat <<'EOF'
# rkmod test fixtures

Generated — do not edit by hand. Regenerate everything with
`tests/modules/build.sh` (builds `tests/modules/*.c` against
`/usr/src/linux-headers-6.1.0-50-amd64`, Debian 6.1.0-50-amd64 / gcc-12, then
`strip --strip-debug`, compresses, signs with the TEST-ONLY key in
`tests/modules/signing/`, verifies, runs `tests/fixtures/bad/make.sh` and
rewrites this file). `tests/fixtures/bad/make.sh` alone regenerates only the
hostile inputs from the good fixtures.

All modules: vermagic `6.1.0-50-amd64 SMP preempt mod_unload modversions`,
x86-64, `struct module` 0x380 bytes (init reloc at 0x138, exit at 0x350),
`.note.gnu.build-id` present, license GPL, author "rkmod tests".

## Files (size in bytes)

EOF
	for f in $files; do
		printf -- '- `%s` (%s bytes): %s\n' "$f" "$(stat -c %s "$FIX/$f")" "${DESC[$f]}"
	done
	printf '\nTotal: %s bytes.\n' "$(cd "$FIX" && cat $files | wc -c)"
} >"$FIX/README.md"
echo "gen-fixtures-readme.sh: wrote $FIX/README.md" >&2
