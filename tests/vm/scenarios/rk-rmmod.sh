#!/bin/sh
# rk-rmmod: every way rmmod can refuse or fail, with our rmmod and, on the same kernel state,
# with kmod's. Both must agree on the exit status and print nothing on stdout; our messages keep
# kmod's words and add an explanation in parentheses, so each step checks a text both share.
#
#   not loaded / builtin / held by a module / reference count > 0 / permanent
#   -f on a permanent module, a path argument, a '/' name that is no file, several arguments
#   with one failing, and -s (the message goes to syslog, stderr stays empty)
#
# On 6.1 it uses our test modules; on other kernels Debian's (llc held by stp, tun held through
# an open /dev/net/tun, vrf as the permanent one).
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_only_with_rk || t_done
t_require_tools tools "$RK_RMMOD" "$RK_INSMOD" || t_done

if t_have_fixtures; then
	plain=$RK_MODULES/rk_basic.ko plain_mod=rk_basic
	other=$RK_MODULES/rk_exitonly.ko other_mod=rk_exitonly
	used=rk_provider user=rk_consumer
	used_files="$RK_MODULES/rk_provider.ko $RK_MODULES/rk_consumer.ko"
	dev_ko=$RK_MODULES/rk_chardev.ko dev_mod=rk_chardev dev=/dev/rk_chardev
	perm_ko=$RK_MODULES/rk_permanent.ko perm=rk_permanent
else
	plain=$(t_modpath dummy) plain_mod=dummy
	other=$(t_modpath crc8) other_mod=crc8
	used=llc user=stp
	used_files="$(t_modpath llc) $(t_modpath stp)"
	dev_ko=$(t_modpath tun) dev_mod=tun dev=/dev/net/tun
	perm_ko=$(t_modpath vrf) perm=vrf
fi

# refused NAME OURS_TEXT KMOD_TEXT ARGS...: "rmmod ARGS" with kmod's rmmod, then with ours, on
# the same kernel state. Both must exit 1, print nothing on stdout and change nothing in
# /proc/modules; kmod's stderr must contain KMOD_TEXT, ours OURS_TEXT.
refused() {
	local name="$1" ours="$2" theirs="$3" before
	shift 3
	before=$(t_modules_snapshot | tr '\n' ' ')
	t_run "$name-kmod" 1 -- "$KMOD_RMMOD" "$@"
	t_expect_contains "$name-kmod-says" stderr "$theirs"
	t_stdout >"$T_DIR/kmod.stdout"
	t_run "$name" 1 -- "$RK_RMMOD" "$@"
	t_expect_contains "$name-says" stderr "$ours"
	t_expect_eq "$name-stdout" "kmod:'$(cat "$T_DIR/kmod.stdout")' ours:'$(t_stdout)'" "kmod:'' ours:''"
	t_expect_eq "$name-nothing-removed" "$(t_modules_snapshot | tr '\n' ' ')" "$before"
}

# load FILE...: set-up with kmod's insmod.
load() { for f in "$@"; do "$KMOD_INSMOD" "$f" || t_fail "setup" "could not load $f"; done; }

# --- refusals before the kernel is asked ---------------------------------------------------------
refused not-loaded "is not currently loaded" "is not currently loaded" no_such_module_rk

builtin=
while read -r path; do
	m=$(t_modname "$path")
	[ -d "/sys/module/$m" ] && builtin=$m && break
done <"$T_MODDIR/modules.builtin"
if [ -n "$builtin" ]; then
	refused builtin "Module $builtin is builtin." "Module $builtin is builtin." "$builtin"
else
	t_skip builtin "no builtin module with a /sys/module directory"
fi

# shellcheck disable=SC2086 # a word list
load $used_files
refused held-by-module "in use by: $user" "in use by: $user" "$used"
t_expect_contains held-by-module-hint stderr "(remove those first, or use --wait)"
"$KMOD_RMMOD" "$user" "$used"

load "$dev_ko"
if t_wait_for "$dev" && t_hold_open "$dev" "$dev_mod"; then
	refs=$(cat "/sys/module/$dev_mod/refcnt")
	t_log "$dev held open by pid $T_HOLDER: refcnt $refs"
	refused refcnt "is in use (reference count $refs" "is in use" "$dev_mod"
else
	t_fail refcnt-setup "could not hold $dev open"
fi
t_release
"$KMOD_RMMOD" "$dev_mod"

# --- refused by the kernel: a permanent module (init, no exit): EBUSY -----------------------------
t_is_loaded "$perm" || load "$perm_ko"
t_proc_has "$perm" '\[permanent\],' permanent-marked
refused permanent "Device or resource busy" "Device or resource busy" "$perm"
t_expect_contains permanent-says-permanent stderr "permanent"
t_expect_contains permanent-says-force stderr "--force"

# -f removes it without running any exit code (CONFIG_MODULE_FORCE_UNLOAD) and taints the kernel
# with R. Only for our fixture: forcing out a real permanent module (vrf) leaves its
# registrations pointing at freed memory.
if [ "$perm" != rk_permanent ]; then
	t_skip force-permanent "no safe permanent module on this kernel (forcing out $perm would leave its registrations dangling)"
elif [ "$(t_kconfig CONFIG_MODULE_FORCE_UNLOAD)" != y ]; then
	t_skip force-permanent "CONFIG_MODULE_FORCE_UNLOAD is not set"
else
	was=$(($(cat /proc/sys/kernel/tainted) & 8))
	t_run force-permanent 0 -- "$RK_RMMOD" -f "$perm"
	t_expect_eq force-permanent-quiet "$(t_stdout)$(t_stderr)" ""
	t_proc_lacks "$perm" force-permanent-gone
	t_check force-permanent-taint-R "kernel.tainted has bit 3 (R: forced rmmod)$([ "$was" -ne 0 ] && echo ', set before already')" \
		test $(($(cat /proc/sys/kernel/tainted) & 8)) -ne 0
	load "$perm_ko"
	t_run force-permanent-kmod 0 -- "$KMOD_RMMOD" -f "$perm"
	t_proc_lacks "$perm" force-permanent-kmod-gone
fi

# --- what an argument means ---------------------------------------------------------------------
# A path that exists: the module name is its file name (without directories and extensions).
for tool in kmod rk; do
	rm=$KMOD_RMMOD
	[ $tool = rk ] && rm=$RK_RMMOD
	load "$plain"
	t_run "path-$tool" 0 -- "$rm" "$plain"
	t_expect_eq "path-$tool-quiet" "$(t_stdout)$(t_stderr)" ""
	t_proc_lacks "$plain_mod" "path-$tool-removed"
done

# A name with '/' that is no file is not a path, and no module name either: kmod looks for
# /sys/module/<dir>/<name> and says "not loaded"; ours says why. Neither removes the module
# the file name would mean.
load "$plain"
fake=/rk/no-such-dir/$(basename "$plain")
refused slash-name "cannot contain '/'" "is not currently loaded" "$fake"
t_proc_has "$plain_mod" '' slash-name-kept
"$KMOD_RMMOD" "$plain_mod"

# Several arguments, one failing: the others are still removed, and the exit status is 1.
for tool in kmod rk; do
	rm=$KMOD_RMMOD
	[ $tool = rk ] && rm=$RK_RMMOD
	load "$plain" "$other"
	t_run "several-$tool" 1 -- "$rm" "$plain_mod" no_such_module_rk "$other_mod"
	t_expect_contains "several-$tool-says" stderr "no_such_module_rk is not currently loaded"
	t_expect_eq "several-$tool-stdout" "$(t_stdout)" ""
	t_proc_lacks "$plain_mod" "several-$tool-first-removed"
	t_proc_lacks "$other_mod" "several-$tool-last-removed"
done

# --- -s: messages go to syslog, stderr stays empty -----------------------------------------------
# BusyBox syslogd listens on /dev/log; without it glibc's syslog (LOG_CONS) writes to the console.
log=$T_DIR/messages
syslogd -n -O "$log" &
syslogd_pid=$!
if t_wait_for /dev/log; then
	for tool in kmod rk; do
		rm=$KMOD_RMMOD
		[ $tool = rk ] && rm=$RK_RMMOD
		t_run "syslog-$tool" 1 -- "$rm" -s no_such_module_rk
		t_expect_eq "syslog-$tool-stderr-empty" "$(t_stderr)" ""
		n=20
		until grep -q "rmmod.*no_such_module_rk is not currently loaded" "$log" 2>/dev/null || [ $n -eq 0 ]; do
			usleep 100000
			n=$((n - 1))
		done
		t_expect_contains "syslog-$tool-logged" "$log" "no_such_module_rk is not currently loaded"
		sed 's/^/    syslog| /' "$log"
		: >"$log"
	done
else
	t_skip syslog "syslogd did not create /dev/log"
fi
kill "$syslogd_pid" 2>/dev/null
wait "$syslogd_pid" 2>/dev/null
t_done
