#!/bin/sh
# oops-misc: an unload race, shown. rk_misc_noowner's misc device has file_operations without
# .owner (modaudit: ownerless-fops), so an open /dev/rk_misc_noowner holds no reference:
# refcnt stays 0, rmmod succeeds while it is open, and the next read runs freed code.
# Boots alone with panic_on_oops=1 (tests/vm/run.sh): the VM ends at the oops, which the judge
# expects to name this module as "last unloaded". The safe twin, rk_chardev, is in holders.
# oops-module: rk_misc_noowner
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_tools tools "$INSMOD" "$RMMOD" || t_done
t_require_fixtures || t_done
# oops=panic on the kernel command line (run.sh): the oops below ends the VM.
t_expect_file panic-on-oops /proc/sys/kernel/panic_on_oops 1

t_run insmod 0 -- "$INSMOD" "$RK_MODULES/rk_misc_noowner.ko"
t_check node "/dev/rk_misc_noowner appears" t_wait_for /dev/rk_misc_noowner
t_unload_race rk_misc_noowner /dev/rk_misc_noowner read
t_done
