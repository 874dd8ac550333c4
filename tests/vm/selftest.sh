#!/usr/bin/env bash
# Self-test of the VM harness's judge and watchdog, without booting anything (a few seconds).
# `make test` runs it before the VM runs, which use the same two scripts:
#
#   tests/vm/judge.sh     is fed console logs of probe scenarios: one that prints nothing, one
#                         that only SKIPs something unexpected, one normal, ...; each must get
#                         the verdict asserted here, with CI=true and without.
#   tests/vm/watchdog.sh  runs a command that hangs (killed after the stall limit, with a line
#                         the judge fails on) and one that is slow but keeps printing (not killed).
#
#   tests/vm/selftest.sh          prints one line per case and "N passed, N failed"
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/rkmod-vm-selftest.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

ok() { passed=$((passed + 1)); echo "PASS $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# log NAME LINE...: a console log as the VM writes it (CRLF line ends, like the serial port).
log() {
	local f=$work/$1.log
	shift
	printf '%s\r\n' "$@" >"$f"
	echo "$f"
}
info='RKMOD-INFO kernel=6.1.0-50-amd64 tools=rk rk-bin=[insmod lsmod] scenarios=[] uptime=2.90'

# A list of expected skips for the probes (the committed list is checked separately).
cat >"$work/expected" <<'EOF'
# KERNEL TOOLS SCENARIO/CHECK REASON
6.1  rk   probe-known/bench       a benchmark; runs only when asked
6.12 rk   probe-skip/fixtures     listed for another kernel: must not count on 6.1
6.1  kmod probe-skip/fixtures     listed for another tool set: must not count for rk
EOF

# judge WANT_EXIT CI NAME TEXT LOG [ARGS...]: run the judge; check its exit status and, if TEXT
# is not empty, that its output contains TEXT.
judge() {
	local want=$1 ci=$2 name=$3 text=$4 logf=$5 out rc=0
	shift 5
	out=$(CI=$ci "$here/judge.sh" --expected "$work/expected" "$@" "$logf" 2>&1) || rc=$?
	if [[ $rc -ne $want ]]; then
		bad "$name: judge exited $rc, expected $want"
		sed 's/^/    | /' <<<"$out"
	elif [[ -n $text && $out != *"$text"* ]]; then
		bad "$name: judge's output lacks '$text'"
		sed 's/^/    | /' <<<"$out"
	else
		ok "$name (exit $rc${text:+, says '$text'})"
	fi
}

# --- probe scenarios --------------------------------------------------------------------------
empty=$(log empty "$info" 'RKMOD-BEGIN probe-empty' 'RKMOD-END probe-empty rc=0 secs=0.1' \
	'RKMOD-BEGIN probe-normal' 'RKMOD-RESULT PASS probe-normal/insmod exit 0' \
	'RKMOD-END probe-normal rc=0 secs=0.5' 'RKMOD-DONE rc=0 uptime=9.0')
judge 1 true "prints nothing, CI=true: fails" 'FAIL probe-empty/results' "$empty"
judge 1 false "prints nothing, outside CI: fails too" 'FAIL probe-empty/results' "$empty"

skip=$(log skip "$info" 'RKMOD-BEGIN probe-skip' \
	'RKMOD-RESULT SKIP probe-skip/fixtures test modules are built for 6.1.0-50-amd64, this kernel is 6.12' \
	'RKMOD-LOG probe-skip: checks: 0 passed, 0 failed, 1 skipped' \
	'RKMOD-END probe-skip rc=0 secs=0.1' 'RKMOD-DONE rc=0 uptime=9.0')
judge 1 true "only an unexpected SKIP, CI=true: fails" 'unexpected SKIP' "$skip"
judge 1 true "only an unexpected SKIP, CI=true: the scenario checked nothing" 'FAIL probe-skip/results' "$skip"
judge 0 false "only an unexpected SKIP, outside CI: passes, loudly" '!!! UNEXPECTED SKIP probe-skip/fixtures' "$skip"

mixed=$(log mixed "$info" 'RKMOD-BEGIN probe-mixed' 'RKMOD-RESULT PASS probe-mixed/load exit 0' \
	'RKMOD-RESULT SKIP probe-mixed/modinfo not in this image: /rk/bin/modinfo' \
	'RKMOD-END probe-mixed rc=0 secs=0.1' 'RKMOD-DONE rc=0 uptime=9.0')
judge 1 true "a PASS and an unexpected SKIP, CI=true: fails" 'FAIL probe-mixed/modinfo unexpected SKIP' "$mixed"
judge 0 false "a PASS and an unexpected SKIP, outside CI: passes" 'UNEXPECTED SKIP' "$mixed"

normal=$(log normal "$info" 'RKMOD-BEGIN probe-normal' 'RKMOD-LOG probe-normal:   $ /rk/bin/insmod x.ko' \
	'RKMOD-RESULT PASS probe-normal/insmod exit 0' 'RKMOD-RESULT PASS probe-normal/rmmod exit 0' \
	'RKMOD-END probe-normal rc=0 secs=0.5' \
	'RKMOD-BEGIN probe-known' 'RKMOD-RESULT SKIP probe-known/bench a benchmark: runs with rkmod.bench=1' \
	'RKMOD-END probe-known rc=0 secs=0.1' 'RKMOD-DONE rc=0 uptime=9.0')
judge 0 true "normal, with an expected SKIP, CI=true: passes" '2 passed, 0 failed, 1 skipped (0 unexpected)' \
	"$normal" --scenarios 'probe-normal probe-known'
judge 1 true "a required scenario that never ran: fails" 'FAIL probe-missing/ran' \
	"$normal" --scenarios 'probe-normal probe-known probe-missing'

failed_check=$(log failed "$info" 'RKMOD-BEGIN probe-f' 'RKMOD-RESULT FAIL probe-f/refcnt got 1, expected 0' \
	'RKMOD-END probe-f rc=1 secs=0.1' 'RKMOD-DONE rc=1 uptime=9.0')
judge 1 false "a FAIL: fails" 'FAIL probe-f/refcnt' "$failed_check"

nodone=$(log nodone "$info" 'RKMOD-BEGIN probe-normal' 'RKMOD-RESULT PASS probe-normal/insmod exit 0')
judge 1 false "no RKMOD-DONE: fails" 'FAIL vm/done' "$nodone"

oops=$(log oops "$info" 'RKMOD-BEGIN probe-normal' 'RKMOD-RESULT PASS probe-normal/insmod exit 0' \
	'RKMOD-END probe-normal rc=0 secs=0.5' '[   12.0] WARNING: CPU: 0 PID: 1 at kernel/module/main.c:1' \
	'RKMOD-DONE rc=0 uptime=9.0')
judge 1 false "a kernel warning: fails" 'FAIL vm/kernel' "$oops"

# --- boots that must end in an oops (--expect-oops MODULE) ------------------------------------
oops_lines=('RKMOD-BEGIN oops-probe' 'RKMOD-RESULT PASS oops-probe/refcnt-open 0' \
	'RKMOD-RESULT PASS oops-probe/rmmod-while-open exit 0' \
	'[   20.1] BUG: unable to handle page fault for address: ffffffffc0a01010' \
	'[   20.1] Oops: 0000 [#1] PREEMPT SMP NOPTI' \
	'[   20.1] Modules linked in: [last unloaded: rk_misc_noowner]' \
	'[   20.2] Kernel panic - not syncing: Fatal exception')
expected_oops=$(log expected-oops "$info" "${oops_lines[@]}")
judge 0 true "an expected oops naming the module: passes" 'PASS vm/oops as expected' \
	"$expected_oops" --expect-oops rk_misc_noowner
judge 1 false "an expected oops, another module last unloaded: fails" 'FAIL vm/oops-module' \
	"$expected_oops" --expect-oops rk_chrdev_noowner
judge 1 false "an expected oops, module name only a prefix: fails" 'FAIL vm/oops-module' \
	"$expected_oops" --expect-oops rk_misc
judge 1 false "an oops in a normal boot still fails" 'FAIL vm/kernel' "$expected_oops"
no_oops=$(log no-oops "$info" 'RKMOD-BEGIN oops-probe' 'RKMOD-RESULT PASS oops-probe/rmmod-while-open exit 0' \
	'RKMOD-END oops-probe rc=0 secs=1.0' 'RKMOD-DONE rc=0 uptime=9.0')
judge 1 false "expected an oops, the VM finished: fails" 'FAIL vm/oops the VM finished normally' \
	"$no_oops" --expect-oops rk_misc_noowner
oops_fail=$(log oops-fail "$info" 'RKMOD-BEGIN oops-probe' \
	'RKMOD-RESULT FAIL oops-probe/refcnt-open got 1, expected 0' "${oops_lines[@]:3}")
judge 1 false "expected an oops, but a check before it failed: fails" 'FAIL oops-probe/refcnt-open' \
	"$oops_fail" --expect-oops rk_misc_noowner
no_panic=$(log no-panic "$info" "${oops_lines[@]:0:6}")
judge 1 false "an oops without the panic: fails" 'FAIL vm/panic' "$no_panic" --expect-oops rk_misc_noowner
no_checks=$(log no-checks "$info" 'RKMOD-BEGIN oops-probe' "${oops_lines[@]:3}")
judge 1 false "an oops before any check passed: fails" 'FAIL vm/oops-checks' "$no_checks" --expect-oops rk_misc_noowner

bad_list=$work/bad-list
printf '6.1 rk probe-known/bench\n' >"$bad_list"
judge 1 false "an expected skip without a reason: fails" 'FAIL judge/expected-skips' "$normal" --expected "$bad_list"

# The committed list: every entry has a reason, and it names scenarios that exist.
out=$(CI=true "$here/judge.sh" "$normal" 2>&1 || true)
if [[ $out == *judge/expected-skips* ]]; then
	bad "tests/vm/expected-skips: malformed"
	grep 'judge/expected-skips' <<<"$out" | sed 's/^/    | /'
else
	ok "tests/vm/expected-skips: every entry has KERNEL TOOLS SCENARIO/CHECK REASON"
fi
unknown=$(awk '!/^#/ && NF { split($3, a, "/"); print a[1] }' "$here/expected-skips" | sort -u |
	while read -r s; do [[ -f $here/scenarios/$s.sh ]] || echo "$s"; done)
if [[ -n $unknown ]]; then
	bad "tests/vm/expected-skips names scenarios that do not exist: $unknown"
else
	ok "tests/vm/expected-skips names only existing scenarios"
fi

# --- watchdog ---------------------------------------------------------------------------------
export RKMOD_VM_WATCH_POLL=1
rc=0
SECONDS=0
"$here/watchdog.sh" 3 60 "$work/hang.log" sh -c 'echo RKMOD-BEGIN probe-hang; exec sleep 600' 2>/dev/null || rc=$?
took=$SECONDS
if [[ $rc -eq 125 && $took -le 20 ]] && grep -q '^RKMOD-WATCHDOG stalled: no new console line for 3 s' "$work/hang.log"; then
	ok "watchdog: a silent hang is killed after the stall limit (3 s limit, ended in ${took} s, exit 125)"
else
	bad "watchdog: hang: exit $rc after ${took} s (want 125 within 20 s); log:"
	sed 's/^/    | /' "$work/hang.log"
fi
printf '%s\n' "$info" | cat - "$work/hang.log" >"$work/hang-info.log"
judge 1 false "the judge fails a run the watchdog killed" 'FAIL vm/watchdog stalled' "$work/hang-info.log"

rc=0
SECONDS=0
"$here/watchdog.sh" 3 60 "$work/slow.log" \
	sh -c 'for i in 1 2 3 4 5 6 7 8; do echo "RKMOD-LOG probe-slow: step $i"; sleep 1.5; done' 2>/dev/null || rc=$?
took=$SECONDS
if [[ $rc -eq 0 && $took -ge 10 ]] && ! grep -q RKMOD-WATCHDOG "$work/slow.log"; then
	ok "watchdog: slow (12 s) but printing every 1.5 s with a 3 s limit: not killed (exit 0)"
else
	bad "watchdog: slow printer: exit $rc after ${took} s (want 0, >= 10 s, no RKMOD-WATCHDOG line)"
	sed 's/^/    | /' "$work/slow.log"
fi

rc=0
"$here/watchdog.sh" 30 3 "$work/cap.log" sh -c 'while :; do echo tick; sleep 0.5; done' 2>/dev/null || rc=$?
if [[ $rc -eq 124 ]] && grep -q '^RKMOD-WATCHDOG cap: still running after 3 s' "$work/cap.log"; then
	ok "watchdog: the overall cap ends a run that never finishes (exit 124)"
else
	bad "watchdog: cap: exit $rc (want 124)"
fi

rc=0
"$here/watchdog.sh" 3 60 "$work/exit.log" sh -c 'echo hi; exit 7' 2>/dev/null || rc=$?
if [[ $rc -eq 7 ]]; then ok "watchdog: passes the command's exit status on (7)"; else bad "watchdog: exit $rc, want 7"; fi

echo "$passed passed, $failed failed"
((failed == 0))
