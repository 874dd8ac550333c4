#!/usr/bin/env bash
# Judge one VM console log: the results the scenarios reported, and whether the run as a whole
# checked what it was meant to. tests/vm/run.sh calls this after every boot; tests/vm/selftest.sh
# feeds it made-up logs, so the rules below are tested without booting anything.
#
#   tests/vm/judge.sh [--kernel K] [--qemu-rc N] [--secs S] [--scenarios 'A B ...']
#                     [--expected FILE] [--verbose] [--transcript] LOG
#
#   --kernel K       label for the output (default: major.minor of the log's kernel=)
#   --qemu-rc N      qemu's exit status, as tests/vm/watchdog.sh returned it
#   --secs S         wall time of the boot, for the header
#   --scenarios L    scenarios that must have begun and ended (run.sh passes every scenario
#                    when no --scenario was given); default: none required
#   --expected FILE  the expected SKIPs (default: tests/vm/expected-skips)
#   --expect-oops M  a boot that must END in an oops (panic_on_oops=1) caused by the unloaded
#                    module M: the kernel must log an oops whose "last unloaded:" names M, and
#                    a panic; RKMOD-DONE must be absent (the VM ended at the oops). Every other
#                    rule holds, except that the scenario never ends.
#
# A run fails when:
#   - a check FAILed, or the VM did not finish (no RKMOD-DONE), or tests/vm/watchdog.sh killed
#     it (RKMOD-WATCHDOG: no new console line for the stall limit, or the overall cap), or the
#     kernel logged an oops, panic or warning, or there are no results at all;
#   - a scenario reported no results: no PASS or FAIL, and no SKIP on the expected list either
#     (a scenario that prints nothing and exits 0 checked nothing);
#   - a scenario in --scenarios never began or never ended;
#   - under CI=true: a SKIP that is not on the expected list for this kernel and tool set. Outside
#     CI such a SKIP is printed loudly and does not fail the run.
# An expected SKIP is one whose check (scenario/check) is listed in FILE for this kernel series
# (6.1, 6.12, ...) and tool set (rk, kmod), the kernel and tools being those the log's RKMOD-INFO
# line names. Each entry carries its reason; an entry without one is an error.
#
# Output: one line per FAIL and SKIP (and PASS with --verbose), per-scenario counts, and last
#   "  kernel K: P passed, F failed, S skipped (U unexpected); console log: LOG"
# Exit status: 0 if the run passed, 1 if not, 2 on bad usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kernel='' qrc='' secs='?' required='' expected=$here/expected-skips verbose=0 transcript=0 oops_module=
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2; }
while [[ $# -gt 1 ]]; do
	case $1 in
	--kernel) kernel=$2; shift 2 ;;
	--qemu-rc) qrc=$2; shift 2 ;;
	--secs) secs=$2; shift 2 ;;
	--scenarios) required=$2; shift 2 ;;
	--expected) expected=$2; shift 2 ;;
	--expect-oops) oops_module=$2; shift 2 ;;
	-v | --verbose) verbose=1; shift ;;
	--transcript) transcript=1; shift ;;
	*) usage ;;
	esac
done
[[ $# -eq 1 && -f $1 ]] || usage
logf=$1
case ${CI:-} in true | 1 | yes) ci=1 ;; *) ci=0 ;; esac

# RKMOD-* lines, with \r and anything before the marker (escape sequences) removed.
proto=$(tr -d '\r' <"$logf" |
	sed -nE 's/^.*(RKMOD-(INFO|BEGIN|RESULT|LOG|DMESG|END|DONE|WATCHDOG)( |$))/\1/p')
info=$(grep -m1 '^RKMOD-INFO ' <<<"$proto" || true)
# kernel=6.1.0-50-amd64 -> 6.1; tools=rk
series=$(sed -nE 's/.* kernel=([0-9]+\.[0-9]+)[^ ]*.*/\1/p' <<<"$info")
tools=$(sed -nE 's/.* tools=([^ ]+).*/\1/p' <<<"$info")
[[ -n $kernel ]] || kernel=${series:-?}

pass=0 fail=0 skip=0 unexpected=0
fail_line() { fail=$((fail + 1)); echo "  FAIL $*"; }

echo "== kernel $kernel: ${info#RKMOD-INFO } (boot+run ${secs}s, qemu exit ${qrc:-?})"
if ((transcript)); then
	grep '^RKMOD-LOG ' <<<"$proto" | sed 's/^RKMOD-LOG [^:]*: \{0,1\}//' || true
fi

# --- the expected SKIPs for this kernel and tool set ------------------------------------------
declare -A why_expected=()
if [[ -f $expected ]]; then
	n=0
	while read -r ek et echeck ereason; do
		n=$((n + 1))
		[[ -z $ek || $ek == \#* ]] && continue
		if [[ -z $echeck || -z $ereason ]]; then
			fail_line "judge/expected-skips $expected:$n: needs KERNEL TOOLS SCENARIO/CHECK REASON"
			continue
		fi
		[[ $ek == "$series" && $et == "$tools" ]] && why_expected[$echeck]=$ereason
	done <"$expected"
else
	fail_line "judge/expected-skips no list of expected skips: $expected"
fi

# --- every result line ------------------------------------------------------------------------
declare -A s_pass=() s_fail=() s_skip=() s_unexp=()
while read -r _ status name rest; do
	scen=${name%%/*}
	case $status in
	PASS)
		pass=$((pass + 1)) s_pass[$scen]=$((${s_pass[$scen]:-0} + 1))
		if ((verbose)); then echo "  PASS $name $rest"; fi
		;;
	SKIP)
		skip=$((skip + 1)) s_skip[$scen]=$((${s_skip[$scen]:-0} + 1))
		if [[ -n ${why_expected[$name]:-} ]]; then
			echo "  SKIP $name $rest"
		elif ((ci)); then
			unexpected=$((unexpected + 1)) s_unexp[$scen]=$((${s_unexp[$scen]:-0} + 1))
			fail_line "$name unexpected SKIP (CI=true; not in ${expected##*/} for $series/$tools): $rest"
		else
			unexpected=$((unexpected + 1)) s_unexp[$scen]=$((${s_unexp[$scen]:-0} + 1))
			echo "  SKIP $name $rest"
			echo "  !!! UNEXPECTED SKIP $name: not in ${expected##*/} for $series/$tools (a failure under CI=true)"
		fi
		;;
	*)
		s_fail[$scen]=$((${s_fail[$scen]:-0} + 1))
		fail_line "$name $rest"
		;;
	esac
done < <(grep '^RKMOD-RESULT ' <<<"$proto" || true)

# --- per scenario -----------------------------------------------------------------------------
declare -A begun=() ended=()
while read -r _ sname; do begun[$sname]=1; done < <(grep '^RKMOD-BEGIN ' <<<"$proto" || true)
while read -r _ sname rcs secss; do
	ended[$sname]=1
	p=${s_pass[$sname]:-0} f=${s_fail[$sname]:-0} s=${s_skip[$sname]:-0} u=${s_unexp[$sname]:-0}
	printf '  %-16s %s %s  (%s passed, %s failed, %s skipped)\n' "$sname" "$rcs" "$secss" "$p" "$f" "$s"
	# Nothing checked: no PASS or FAIL, and not knowingly skipped (only expected SKIPs).
	if ((p + f == 0)) && ((s == 0 || u > 0)); then
		if ((s == 0)); then
			fail_line "$sname/results the scenario reported no results (no PASS, FAIL or SKIP)"
		elif ((ci)); then
			fail_line "$sname/results no PASS or FAIL, only unexpected SKIPs (CI=true)"
		else
			echo "  !!! $sname checked nothing: no PASS or FAIL, only unexpected SKIPs (a failure under CI=true)"
		fi
	fi
	if ((f)) || { ((p + f == 0)) && ((s == 0)); }; then
		echo "  --- $sname log (first 80 lines; all of it in $logf):"
		grep -E "^RKMOD-(LOG|DMESG) $sname: " <<<"$proto" | head -n 80 | sed 's/^/  | /' || true
	fi
done < <(grep '^RKMOD-END ' <<<"$proto" || true)
for sname in $required; do
	if [[ -z ${begun[$sname]:-} ]]; then
		fail_line "$sname/ran the scenario never began (not in the image, or the VM stopped early)"
	elif [[ -z ${ended[$sname]:-} ]]; then
		fail_line "$sname/ended the scenario began but never ended"
	fi
done

# --- the VM as a whole ------------------------------------------------------------------------
watchdog=$(grep -m1 '^RKMOD-WATCHDOG ' <<<"$proto" || true)
if [[ -n $watchdog ]]; then
	fail_line "vm/watchdog ${watchdog#RKMOD-WATCHDOG }"
fi
# (Results and scenario output are ours, not the kernel's: "KNOWN BUG:" is no oops.)
kernel_lines=$(tr -d '\r' <"$logf" | grep -vE '^RKMOD-(RESULT|LOG|WATCHDOG) ' || true)
oops=$(grep -E 'Kernel panic|BUG: |Oops|WARNING: CPU|general protection fault|Call Trace:' <<<"$kernel_lines" | head -n 20 || true)
if [[ -n $oops_module ]]; then
	# The expected end: an oops (page fault or GP fault in freed module memory), the module named
	# as the last one unloaded, and the panic panic_on_oops=1 turns it into.
	if grep -q '^RKMOD-DONE' <<<"$proto"; then
		fail_line "vm/oops the VM finished normally: no oops after $oops_module was removed"
	elif ! grep -qE 'BUG: |Oops|general protection fault' <<<"$kernel_lines"; then
		fail_line "vm/oops no oops in the console log; last console lines:"
		tr -d '\r' <"$logf" | tail -n 25 | sed 's/^/  | /'
	elif ! grep -qE "last unloaded: $oops_module([](]|$)" <<<"$kernel_lines"; then
		fail_line "vm/oops-module the oops does not name $oops_module as last unloaded:"
		grep -E 'last unloaded|Modules linked in' <<<"$kernel_lines" | head -n 3 | sed 's/^/  | /'
	elif ! grep -q 'Kernel panic' <<<"$kernel_lines"; then
		fail_line "vm/panic an oops but no panic (was panic_on_oops=1 set?)"
	elif ((pass == 0)); then
		fail_line "vm/oops-checks an oops, but no check passed before it (refcnt, rmmod)"
	else
		pass=$((pass + 1))
		echo "  PASS vm/oops as expected: $(grep -m1 -E 'BUG: |general protection fault' <<<"$kernel_lines"), last unloaded: $oops_module"
		grep -m1 -E 'RIP: ' <<<"$kernel_lines" | sed 's/^/  | /' || true
	fi
else
	if ! grep -q '^RKMOD-DONE' <<<"$proto"; then
		fail_line "vm/done the VM did not finish its run; last console lines:"
		tr -d '\r' <"$logf" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1b[c]//g' | tail -n 25 | sed 's/^/  | /'
	fi
	if [[ -n $oops ]]; then
		fail_line "vm/kernel kernel oops, panic or warning:"
		sed 's/^/  | /' <<<"$oops"
	fi
fi
if ((pass + fail + skip == 0)); then
	fail_line "vm/results no RKMOD-RESULT lines in $logf"
fi
if ((unexpected && !ci)); then
	echo "  !!! $unexpected UNEXPECTED SKIP(s) on kernel $kernel (tools $tools): see above; under CI=true they fail"
fi
echo "  kernel $kernel: $pass passed, $fail failed, $skip skipped ($unexpected unexpected); console log: $logf"
((fail == 0))
