#!/bin/sh
# unload-hazards: the safe twins of the oops-* scenarios, and symbol_get of a plain export.
# A file_operations with .owner (register_chrdev, debugfs) or a cdev with cdev.owner set pins
# the module while a file is open: refcnt 1, rmmod refused ("in use"), no oops after closing.
# A notifier unregistered in exit leaves nothing behind. symbol_get() of a symbol exported
# without _GPL returns NULL since 2023 (modaudit: symbol-get-non-gpl).
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_tools tools "$INSMOD" "$RMMOD" || t_done
t_require_fixtures || t_done

# held NAME NODE REFS: with NODE open, NAME's refcnt is REFS and rmmod is refused; closed, it
# goes.
held() {
	t_hold_open "$2" "$1"
	t_expect_file "$1-refcnt-open" "/sys/module/$1/refcnt" "$3"
	t_run "$1-rmmod-refused" 1 -- "$RMMOD" "$1"
	t_expect_contains "$1-in-use" stderr "in use"
	t_release
	t_expect_file "$1-refcnt-closed" "/sys/module/$1/refcnt" 0
	t_run "$1-rmmod" 0 -- "$RMMOD" "$1"
	t_proc_lacks "$1"
}

# chrdev_node NAME: a node for the char device NAME registered (from /proc/devices).
chrdev_node() {
	local major
	major=$(awk -v n="$1" '$2 == n { print $1 }' /proc/devices)
	rm -f "/tmp/$1"
	[ -n "$major" ] && mknod "/tmp/$1" c "$major" 0
}

t_run chrdev-owner-insmod 0 -- "$INSMOD" "$RK_MODULES/rk_chrdev_owner.ko"
t_check chrdev-owner-node "a node for rk_chrdev_owner" chrdev_node rk_chrdev_owner
# 2: chrdev_open pins the cdev's owner (which __register_chrdev copied from fops.owner) and,
# through fops_get, the fops' owner: the same module twice.
held rk_chrdev_owner /tmp/rk_chrdev_owner 2

t_run cdev-owner-insmod 0 -- "$INSMOD" "$RK_MODULES/rk_cdev_owner.ko"
t_check cdev-owner-node "a node for rk_cdev_owner" chrdev_node rk_cdev_owner
t_expect_eq cdev-owner-read "$(cat /tmp/rk_cdev_owner)" rk_cdev_owner
# 1: only the cdev's owner (the fops has none).
held rk_cdev_owner /tmp/rk_cdev_owner 1

grep -q " /sys/kernel/debug " /proc/mounts || mount -t debugfs debugfs /sys/kernel/debug
t_run debugfs-owner-insmod 0 -- "$INSMOD" "$RK_MODULES/rk_debugfs_owner.ko"
held rk_debugfs_owner /sys/kernel/debug/rk_debugfs_owner 1

ip link set lo down
t_run notifier-paired-insmod 0 -- "$INSMOD" "$RK_MODULES/rk_notifier_paired.ko"
t_run notifier-paired-rmmod 0 -- "$RMMOD" rk_notifier_paired
t_run notifier-event-after 0 -- ip link set lo up
t_check notifier-no-oops "no oops after the event" sh -c '! dmesg | grep -qE "BUG: |Oops"'

t_run provider-plain-insmod 0 -- "$INSMOD" "$RK_MODULES/rk_provider_plain.ko"
t_run symget-plain-insmod 0 -- "$INSMOD" "$RK_MODULES/rk_symget_plain.ko"
t_check symget-plain-refused "dmesg: failing symbol_get of non-GPLONLY symbol" \
	sh -c 'dmesg | grep -q "failing symbol_get of non-GPLONLY symbol rk_provider_plain_value"'
t_check symget-plain-null "dmesg: symbol_get returned NULL" \
	sh -c 'dmesg | grep -q "symbol_get(rk_provider_plain_value) returned NULL"'
t_expect_file symget-plain-provider-refcnt /sys/module/rk_provider_plain/refcnt 0
t_run symget-plain-rmmod 0 -- "$RMMOD" rk_symget_plain
t_run provider-plain-rmmod 0 -- "$RMMOD" rk_provider_plain
t_done
