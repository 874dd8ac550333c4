#!/bin/sh
# initfail: when the module's init function fails, insmod reports the init function's own
# error (here EIO) and the module is gone: not in /proc/modules, not in /sys/module, and
# loading it again fails the same way (not with EEXIST or EBUSY).
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_tools tools "$INSMOD" || t_done
t_require_fixtures || t_done

t_run insmod-fails 1 -- "$INSMOD" "$RK_MODULES/rk_initfail.ko"
t_expect_contains insmod-eio stderr "Input/output error"
t_proc_lacks rk_initfail
t_check sysfs-gone "/sys/module/rk_initfail does not exist" test ! -e /sys/module/rk_initfail
dmesg >"$T_DIR/dmesg"
t_expect_contains init-ran "$T_DIR/dmesg" "rk_initfail: init failing on purpose with -EIO"

t_run insmod-again-fails 1 -- "$INSMOD" "$RK_MODULES/rk_initfail.ko"
t_expect_contains insmod-again-eio stderr "Input/output error"
t_proc_lacks rk_initfail proc-lacks-again
t_done
