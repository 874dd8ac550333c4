#!/bin/sh
# holders: a module cannot be removed while another module uses its symbols (holders/),
# while something holds a reference to it (an open device file, symbol_get()).
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_tools tools "$INSMOD" "$RMMOD" || t_done
t_require_fixtures || t_done

# --- link-time user: rk_consumer calls rk_provider_value() -------------------------------------
t_run provider-insmod 0 -- "$INSMOD" "$RK_MODULES/rk_provider.ko"
t_run consumer-insmod 0 -- "$INSMOD" "$RK_MODULES/rk_consumer.ko"
t_proc_has rk_provider '^rk_provider [0-9]+ 1 rk_consumer, Live ' provider-used-by
t_check holders-link "/sys/module/rk_provider/holders/rk_consumer exists" \
	test -e /sys/module/rk_provider/holders/rk_consumer
t_expect_file provider-refcnt /sys/module/rk_provider/refcnt 1
# Ours adds "[permanent]" to the Used-by column; t_lsmod_same takes that out and checks it.
if t_require_tools lsmod-same-as-kmod "$RK_LSMOD"; then
	t_lsmod_same lsmod-same-as-kmod
fi

t_run provider-rmmod-refused 1 -- "$RMMOD" rk_provider
t_expect_contains provider-in-use-by stderr "in use by: rk_consumer"
# Forcing does not help: the kernel refuses (EWOULDBLOCK) while source_list is not empty,
# O_TRUNC or not.
t_run provider-rmmod-force-refused 1 -- "$RMMOD" -f rk_provider
t_expect_contains provider-force-eagain stderr "Resource temporarily unavailable"
t_proc_has rk_provider '' provider-still-loaded

t_run consumer-rmmod 0 -- "$RMMOD" rk_consumer
t_expect_file provider-refcnt-after /sys/module/rk_provider/refcnt 0
t_run provider-rmmod 0 -- "$RMMOD" rk_provider
t_proc_lacks rk_provider

# --- run-time reference: rk_symget calls symbol_get() and never symbol_put() ------------------
t_run symget-provider-insmod 0 -- "$INSMOD" "$RK_MODULES/rk_provider.ko"
t_run symget-insmod 0 -- "$INSMOD" "$RK_MODULES/rk_symget.ko"
t_proc_has rk_provider '^rk_provider [0-9]+ 1 - Live ' symget-refcnt-no-holders
t_run symget-rmmod 0 -- "$RMMOD" rk_symget
# The reference leaks: rk_provider stays pinned after rk_symget is gone.
t_expect_file symget-leaked-ref /sys/module/rk_provider/refcnt 1
t_run symget-provider-rmmod-refused 1 -- "$RMMOD" rk_provider
t_expect_contains symget-provider-in-use stderr "is in use"
# A reference count (unlike a holder) can be overridden with CONFIG_MODULE_FORCE_UNLOAD.
t_run symget-provider-rmmod-force 0 -- "$RMMOD" -f rk_provider
t_proc_lacks rk_provider symget-provider-gone

# --- open device file: rk_chardev's fops.owner = THIS_MODULE ----------------------------------
t_run chardev-insmod 0 -- "$INSMOD" "$RK_MODULES/rk_chardev.ko"
t_check chardev-node "/dev/rk_chardev appears (devtmpfs)" t_wait_for /dev/rk_chardev
t_expect_eq chardev-read "$(cat /dev/rk_chardev)" rk_chardev
t_expect_file chardev-refcnt-closed /sys/module/rk_chardev/refcnt 0

# A background process holding the device open (lib.sh: a subshell opens fd 3, becomes sleep).
t_hold_open /dev/rk_chardev rk_chardev
t_expect_file chardev-refcnt-open /sys/module/rk_chardev/refcnt 1
t_proc_has rk_chardev '^rk_chardev [0-9]+ 1 - Live ' chardev-proc-refcnt
t_run chardev-rmmod-refused 1 -- "$RMMOD" rk_chardev
t_expect_contains chardev-in-use stderr "is in use"

t_release
t_expect_file chardev-refcnt-after-close /sys/module/rk_chardev/refcnt 0
t_run chardev-rmmod 0 -- "$RMMOD" rk_chardev
t_proc_lacks rk_chardev
t_check chardev-node-gone "/dev/rk_chardev removed" test ! -e /dev/rk_chardev
t_done
