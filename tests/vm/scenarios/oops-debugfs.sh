#!/bin/sh
# oops-debugfs: rk_debugfs_noowner's debugfs file has file_operations without .owner
# (modaudit: ownerless-fops, debugfs, lower severity: root only). debugfs' proxy pins only the
# owner, so rmmod succeeds while the file is open, and close() then reads the freed table
# (full_proxy_release). Boots alone with panic_on_oops=1. The safe twin, rk_debugfs_owner, is
# in unload-hazards.
# oops-module: rk_debugfs_noowner
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_tools tools "$INSMOD" "$RMMOD" || t_done
t_require_fixtures || t_done
# oops=panic on the kernel command line (run.sh): the oops below ends the VM.
t_expect_file panic-on-oops /proc/sys/kernel/panic_on_oops 1

grep -q " /sys/kernel/debug " /proc/mounts || mount -t debugfs debugfs /sys/kernel/debug
t_run insmod 0 -- "$INSMOD" "$RK_MODULES/rk_debugfs_noowner.ko"
t_expect_eq read-open "$(cat /sys/kernel/debug/rk_debugfs_noowner)" rk_debugfs_noowner
t_unload_race rk_debugfs_noowner /sys/kernel/debug/rk_debugfs_noowner close
t_done
