#!/bin/sh
# rk-wait: our `rmmod --wait[=MSEC]`. The kernel stopped waiting for a module to become unused in
# Linux 3.13; our rmmod waits in user space, polling until the reference count is 0 and no module
# holds it, then removes it. kmod's rmmod has no such option (modprobe -r --wait does).
#
#   a process holds the device open for 3 s: rmmod --wait waits (>= 2 s), then removes it
#   --wait=1000 while it stays held: times out, exit 1, says why, the module stays
#   a module held by another module that goes away meanwhile: waits, then removes it
#   Ctrl-C (SIGINT) while waiting: exit 1, "interrupted", the module stays
#   a permanent module: exit 1 at once, saying it is permanent (waiting cannot help)
#
# On 6.1 it uses our rk_chardev (/dev/rk_chardev) and rk_provider/rk_consumer; on other kernels
# Debian's tun (/dev/net/tun) and llc/stp.
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_only_with_rk || t_done
t_require_tools tools "$RK_RMMOD" || t_done

if t_have_fixtures; then
	dev_ko=$RK_MODULES/rk_chardev.ko dev_mod=rk_chardev dev=/dev/rk_chardev
	used=rk_provider user=rk_consumer
	used_files="$RK_MODULES/rk_provider.ko $RK_MODULES/rk_consumer.ko"
else
	dev_ko=$(t_modpath tun) dev_mod=tun dev=/dev/net/tun
	used=llc user=stp
	used_files="$(t_modpath llc) $(t_modpath stp)"
fi

# --- a process holds the device open for 3 s ----------------------------------------------------
t_run dev-insmod 0 -- "$KMOD_INSMOD" "$dev_ko"
t_wait_for "$dev"
if ! t_hold_open "$dev" "$dev_mod" 3; then
	t_fail hold "could not hold $dev open"
	t_done
fi
refs=$(cat "/sys/module/$dev_mod/refcnt")
t_log "$dev held open for 3 s by pid $T_HOLDER: $dev_mod refcnt $refs"
start=$(t_ms)
t_run wait-removes 0 -- "$RK_RMMOD" -v --wait=20000 "$dev_mod"
took=$(($(t_ms) - start))
t_check wait-waited "took $took ms (the holder had ~3 s left)" test "$took" -ge 2000
t_expect_contains wait-says-what stderr "waiting for $dev_mod: reference count $refs"
t_expect_contains wait-says-removed stderr "removed $dev_mod"
t_proc_lacks "$dev_mod" wait-removed
t_release

# --- it stays held: --wait=1000 gives up --------------------------------------------------------
t_run dev-insmod-again 0 -- "$KMOD_INSMOD" "$dev_ko"
t_wait_for "$dev"
t_hold_open "$dev" "$dev_mod"
start=$(t_ms)
t_run timeout 1 -- "$RK_RMMOD" --wait=1000 "$dev_mod"
took=$(($(t_ms) - start))
t_check timeout-took "took $took ms for --wait=1000" test "$took" -ge 900 -a "$took" -lt 5000
t_expect_contains timeout-says stderr "timed out after 1000 ms"
t_expect_contains timeout-says-why stderr "reference count $refs"
t_proc_has "$dev_mod" '' timeout-still-loaded

# --- Ctrl-C while waiting ------------------------------------------------------------------------
# (A background job of a script starts with SIGINT ignored; rmmod --wait installs its own
# handler, so the signal reaches it. The 30 s bound only keeps a broken build from hanging.)
"$RK_RMMOD" -v --wait=30000 "$dev_mod" >"$T_DIR/int.out" 2>"$T_DIR/int.err" </dev/null &
pid=$!
t_log "  \$ $RK_RMMOD -v --wait=30000 $dev_mod &   (pid $pid; SIGINT after 1 s)"
usleep 1000000
t_check wait-progress-live "-v said what it waits for while waiting" \
	grep -q "waiting for $dev_mod" "$T_DIR/int.err"
kill -INT "$pid"
wait "$pid"
rc=$?
_t_show "$T_DIR/int.err" err
t_expect_eq sigint-exit "exit $rc" "exit 1"
t_expect_contains sigint-says "$T_DIR/int.err" "interrupted"
t_proc_has "$dev_mod" '' sigint-still-loaded
t_release
t_run dev-rmmod 0 -- "$RK_RMMOD" "$dev_mod"

# --- a permanent module: waiting cannot help, so it fails at once --------------------------------
if t_have_fixtures; then perm_ko=$RK_MODULES/rk_permanent.ko perm=rk_permanent; else perm_ko=$(t_modpath vrf) perm=vrf; fi
if ! t_is_loaded "$perm"; then
	t_load_deps "$perm" >/dev/null
	t_run perm-insmod 0 -- "$KMOD_INSMOD" "$perm_ko"
fi
start=$(t_ms)
t_run permanent-no-wait 1 -- "$RK_RMMOD" --wait=20000 "$perm"
took=$(($(t_ms) - start))
t_check permanent-at-once "took $took ms of the 20000 allowed" test "$took" -lt 5000
t_expect_contains permanent-says stderr "permanent"
t_proc_has "$perm" '' permanent-still-loaded

# --- held by another module, which is removed after 2 s ------------------------------------------
for f in $used_files; do
	t_run "insmod-$(t_modname "$f")" 0 -- "$KMOD_INSMOD" "$f"
done
(
	sleep 2
	"$KMOD_RMMOD" "$user"
) &
remover=$!
t_log "$user will be removed in 2 s (pid $remover)"
start=$(t_ms)
t_run holder-wait 0 -- "$RK_RMMOD" -v --wait=20000 "$used"
took=$(($(t_ms) - start))
wait "$remover"
t_check holder-waited "took $took ms" test "$took" -ge 1500
t_expect_contains holder-says-what stderr "held by $user"
t_proc_lacks "$user" holder-user-gone
t_proc_lacks "$used" holder-removed
t_done
