#!/bin/sh
# delete-module: the kernel's own answers to delete_module(2), whatever the tool in front.
# kmod's rmmod looks at /sys/module first and refuses by itself ("is in use", "is builtin",
# "not currently loaded"), so it never shows some of these errnos. BusyBox's rmmod applet does
# no checks: it calls delete_module(name, O_NONBLOCK|O_EXCL), plus O_TRUNC with -f, and prints
# "can't unload module 'X': <strerror>". (The applet is in the image, only not linked as rmmod.)
#
#   not loaded, or builtin              ENOENT
#   permanent (init, no exit)           EBUSY   (-f: removed, with FORCE_UNLOAD)
#   used by another module (holders/)   EAGAIN  (-f changes nothing)
#   reference count > 0 (open device)   EAGAIN  (-f would remove it: not tried here)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_fixtures || t_done
# shellcheck disable=SC2317 # called through t_run
raw_rmmod() { busybox rmmod "$@"; }

t_run not-loaded 1 -- raw_rmmod rk_basic
t_expect_contains not-loaded-enoent stderr "No such file or directory"

builtin=
while read -r path; do
	m=$(t_modname "$path")
	[ -d "/sys/module/$m" ] && builtin=$m && break
done <"$T_MODDIR/modules.builtin"
if [ -n "$builtin" ]; then
	t_run builtin 1 -- raw_rmmod "$builtin"
	t_expect_contains builtin-enoent stderr "No such file or directory"
fi

t_run permanent-insmod 0 -- "$KMOD_INSMOD" "$RK_MODULES/rk_permanent.ko"
t_run permanent 1 -- raw_rmmod rk_permanent
t_expect_contains permanent-ebusy stderr "Device or resource busy"
t_run permanent-force 0 -- raw_rmmod -f rk_permanent
t_proc_lacks rk_permanent

t_run provider-insmod 0 -- "$KMOD_INSMOD" "$RK_MODULES/rk_provider.ko"
t_run consumer-insmod 0 -- "$KMOD_INSMOD" "$RK_MODULES/rk_consumer.ko"
t_run holder 1 -- raw_rmmod rk_provider
t_expect_contains holder-eagain stderr "Resource temporarily unavailable"
t_run holder-force 1 -- raw_rmmod -f rk_provider
t_expect_contains holder-force-eagain stderr "Resource temporarily unavailable"
t_run consumer-rmmod 0 -- raw_rmmod rk_consumer
t_run provider-rmmod 0 -- raw_rmmod rk_provider

t_run chardev-insmod 0 -- "$KMOD_INSMOD" "$RK_MODULES/rk_chardev.ko"
t_wait_for /dev/rk_chardev
t_hold_open /dev/rk_chardev rk_chardev
t_expect_file chardev-refcnt /sys/module/rk_chardev/refcnt 1
t_run refcount 1 -- raw_rmmod rk_chardev
t_expect_contains refcount-eagain stderr "Resource temporarily unavailable"
t_release
t_run chardev-rmmod 0 -- raw_rmmod rk_chardev
t_proc_lacks rk_chardev
t_done
