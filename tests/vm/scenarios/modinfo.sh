#!/bin/sh
# modinfo: our modinfo against kmod's on the running system, where lookups by name go
# through /lib/modules/$(uname -r) (modules.dep.bin, modules.builtin.modinfo).
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_tools rk-modinfo "$RK_MODINFO" || t_done

same() {
	local name="$1"
	shift
	t_expect_stdout_same "$name" -- "$KMOD_MODINFO" "$@" -- "$RK_MODINFO" "$@"
}

same dummy dummy
same dummy-F-vermagic -F vermagic dummy
same bridge-by-path "$(t_modpath bridge)"
same vrf-permanent vrf
same unknown-module no_such_module_rkmod
builtin=$(head -n 1 "$T_MODDIR/modules.builtin")
same "builtin-$(t_modname "$builtin")" "$(t_modname "$builtin")"
if t_have_fixtures; then
	for f in "$RK_MODULES"/rk_*.ko "$RK_MODULES"/rk_basic.ko.xz "$RK_MODULES"/rk_basic.ko.zst; do
		same "$(basename "$f")" "$f"
	done
fi
t_done
