#!/bin/sh
# smoke: load a module with parameters, look at it the three ways user space can
# (/proc/modules, /sys/module, lsmod), and remove it again.
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_check proc-modules "/proc/modules is readable" test -r /proc/modules
t_require_tools tools "$INSMOD" "$RMMOD" "$LSMOD" || t_done
t_require_fixtures || t_done

# A value with a space must reach the kernel in double quotes: insmod joins its arguments
# with spaces and the kernel's parse_args() splits them again, honouring "...".
t_run insmod 0 -- "$INSMOD" "$RK_MODULES/rk_basic.ko" int_param=7 'str_param="a b:c"' arr_param=5,6,7
t_proc_has rk_basic ' Live 0x[0-9a-f]{16}'
t_proc_has rk_basic '^rk_basic [0-9]+ 0 - Live ' proc-line-format
# Unsigned (E) and out of tree (O): the per-module taint, in /proc/modules and in sysfs.
t_proc_has rk_basic ' \(OE\)$' proc-taint
t_expect_file taint /sys/module/rk_basic/taint OE

t_expect_file initstate /sys/module/rk_basic/initstate live
t_expect_file refcnt /sys/module/rk_basic/refcnt 0
t_expect_file version /sys/module/rk_basic/version 1.0
t_expect_file int_param /sys/module/rk_basic/parameters/int_param 7
t_expect_file str_param /sys/module/rk_basic/parameters/str_param "a b:c"
t_expect_file arr_param /sys/module/rk_basic/parameters/arr_param 5,6,7
t_expect_file nodesc_param-default /sys/module/rk_basic/parameters/nodesc_param 7
dmesg >"$T_DIR/dmesg"
t_expect_contains init-saw-params "$T_DIR/dmesg" "rk_basic: loaded: int_param=7 str_param=a b:c"

t_run lsmod 0 -- "$LSMOD"
t_check lsmod-line "rk_basic, 0 users" grep -qE '^rk_basic +[0-9]+ +0$' "$T_DIR/stdout"
# Ours adds "[permanent]" to the Used-by column; t_lsmod_same takes that out and checks it.
if t_require_tools lsmod-same-as-kmod "$RK_LSMOD"; then
	t_lsmod_same lsmod-same-as-kmod
fi

t_run rmmod 0 -- "$RMMOD" rk_basic
t_proc_lacks rk_basic
t_run rmmod-again 1 -- "$RMMOD" rk_basic
t_expect_contains rmmod-again-not-loaded stderr "not currently loaded"
t_check sysfs-gone "/sys/module/rk_basic removed" test ! -e /sys/module/rk_basic
t_done
