#!/usr/bin/env bash
# Run a command (qemu) with its output in a log, and end it when it stops making progress.
#
#   tests/vm/watchdog.sh STALL_SECS CAP_SECS LOG CMD [ARGS...]
#
# CMD's stdout and stderr go to LOG (stdin is /dev/null). CMD is ended (TERM, then KILL after
# 10 s) when LOG has gained no new line for STALL_SECS, or when it has run CAP_SECS in all;
# either way one line goes to the end of LOG, for tests/vm/judge.sh:
#   RKMOD-WATCHDOG stalled: no new console line for STALL_SECS s (killed after T s)
#   RKMOD-WATCHDOG cap: still running after CAP_SECS s (RKMOD_VM_TIMEOUT)
# A slow machine makes a run longer, not failed: only silence or the (generous) cap end it.
# RKMOD_VM_WATCH_POLL: seconds between looks at LOG (default 2).
#
# Exit status: CMD's, or 124 (cap) / 125 (stalled) when this script ended it.
set -euo pipefail

[[ $# -ge 4 ]] || { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2; }
stall=$1 cap=$2 logf=$3
shift 3
for v in "$stall" "$cap"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "watchdog.sh: '$v' is not a positive number of seconds" >&2; exit 2; }
done
poll=${RKMOD_VM_WATCH_POLL:-2}

"$@" </dev/null >"$logf" 2>&1 &
pid=$!
# Ctrl-C or a TERM from run.sh: take the command down too.
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; exit 143' INT TERM

start=$SECONDS last_change=$SECONDS lines=0 reason='' rc=0
while kill -0 "$pid" 2>/dev/null; do
	sleep "$poll"
	now=$(wc -l <"$logf")
	if ((now != lines)); then
		lines=$now last_change=$SECONDS
	elif ((SECONDS - last_change >= stall)); then
		reason="stalled: no new console line for $stall s (killed after $((SECONDS - start)) s)"
		rc=125
	fi
	if [[ -z $reason ]] && ((SECONDS - start >= cap)); then
		reason="cap: still running after $cap s (RKMOD_VM_TIMEOUT)"
		rc=124
	fi
	[[ -n $reason ]] && break
done
if [[ -n $reason ]]; then
	kill -TERM "$pid" 2>/dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	printf '\nRKMOD-WATCHDOG %s\n' "$reason" >>"$logf"
	echo "watchdog.sh: $reason" >&2
	exit "$rc"
fi
wait "$pid" || rc=$?
exit "$rc"
