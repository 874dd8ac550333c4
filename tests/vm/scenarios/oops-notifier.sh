#!/bin/sh
# oops-notifier: rk_notifier_leak registers a netdevice notifier and never unregisters it
# (modaudit: unpaired-register). No file needs to be open: after rmmod the chain still points
# into the freed module, and the next netdevice event (lo going up) oopses. Boots alone with
# panic_on_oops=1. The safe twin, rk_notifier_paired, is in unload-hazards.
# oops-module: rk_notifier_leak
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_tools tools "$INSMOD" "$RMMOD" || t_done
t_require_fixtures || t_done
# oops=panic on the kernel command line (run.sh): the oops below ends the VM.
t_expect_file panic-on-oops /proc/sys/kernel/panic_on_oops 1

ip link set lo down
t_run insmod 0 -- "$INSMOD" "$RK_MODULES/rk_notifier_leak.ko"
t_expect_file refcnt /sys/module/rk_notifier_leak/refcnt 0
t_run rmmod 0 -- "$RMMOD" rk_notifier_leak
t_proc_lacks rk_notifier_leak
echo "a netdevice event (lo up): this oopses"
sleep 1
ip link set lo up
t_fail no-oops "the netdevice event after rmmod returned"
t_done
