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
t_open_later /dev/rk_misc_noowner
t_expect_file refcnt-open /sys/module/rk_misc_noowner/refcnt 0
if [ "${RKMOD_TOOLS:-}" = rk ]; then
	# Our rmmod, given the file, reads it first and warns (one line); it still removes it.
	t_run rmmod-while-open 0 -- "$RMMOD" "$RK_MODULES/rk_misc_noowner.ko"
	t_expect_contains rmmod-warns stderr "removing rk_misc_noowner while one of its files is open will crash the kernel"
else
	t_run rmmod-while-open 0 -- "$RMMOD" rk_misc_noowner
fi
t_proc_lacks rk_misc_noowner
echo "reading the open file: this oopses"
sleep 1
t_then read
t_fail no-oops "read from the removed module's device returned (rc $?)"
t_done
