#!/bin/sh
# oops-chrdev: rk_chrdev_noowner registers a char device with register_chrdev() and a
# file_operations without .owner (modaudit: ownerless-fops): an open node holds no reference,
# rmmod succeeds, and the next read oopses. Boots alone with panic_on_oops=1. The safe twin,
# rk_chrdev_owner, is in unload-hazards.
# oops-module: rk_chrdev_noowner
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_tools tools "$INSMOD" "$RMMOD" || t_done
t_require_fixtures || t_done
# oops=panic on the kernel command line (run.sh): the oops below ends the VM.
t_expect_file panic-on-oops /proc/sys/kernel/panic_on_oops 1

t_run insmod 0 -- "$INSMOD" "$RK_MODULES/rk_chrdev_noowner.ko"
major=$(awk '$2 == "rk_chrdev_noowner" { print $1 }' /proc/devices)
t_check major "/proc/devices lists rk_chrdev_noowner ($major)" test -n "$major"
mknod /tmp/rk_chrdev_noowner c "$major" 0
t_unload_race rk_chrdev_noowner /tmp/rk_chrdev_noowner read
t_done
