#!/bin/sh
# Run scenarios inside the VM (installed as /scenarios/run-all.sh; /init calls it).
#
#   sh /scenarios/run-all.sh [NAME...]     default: every /scenarios/*.sh but oops-*, in name order
#
# Output protocol (one line each, parsed by tests/vm/run.sh):
#   RKMOD-BEGIN <scenario>
#   RKMOD-RESULT PASS|FAIL|SKIP <scenario>/<check> [details]    (from lib.sh)
#   RKMOD-LOG <scenario>: <anything else the scenario printed>
#   RKMOD-DMESG <scenario>: <kernel log line produced while it ran>
#   RKMOD-END <scenario> rc=<exit status> secs=<wall time>
# A scenario that exits non-zero without having reported a FAIL gets one here
# (<scenario>/exit), so a crashing script cannot pass silently.
dir=$(dirname "$0")

if [ $# -eq 0 ]; then
	for f in "$dir"/*.sh; do
		n=$(basename "$f" .sh)
		# oops-* scenarios end the kernel: only when named (run.sh boots each alone).
		case $n in lib | run-all | oops-*) continue ;; esac
		set -- "$@" "$n"
	done
fi

uptime() { cut -d' ' -f1 /proc/uptime; }

# prefix NAME TAG: tag every line that is not already an RKMOD-* protocol line.
prefix() {
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in
		RKMOD-*) printf '%s\n' "$line" ;;
		*) printf 'RKMOD-%s %s: %s\n' "$2" "$1" "$line" ;;
		esac
	done
}

failed=0
for name in "$@"; do
	name=${name%.sh}
	echo "RKMOD-BEGIN $name"
	if [ ! -f "$dir/$name.sh" ]; then
		echo "RKMOD-RESULT FAIL $name/exists no such scenario: $dir/$name.sh"
		echo "RKMOD-END $name rc=127 secs=0"
		failed=1
		continue
	fi
	before=$(cut -d' ' -f1 /proc/modules | sort)
	dmesg -c >/dev/null
	start=$(uptime)
	{
		T_SCENARIO=$name sh "$dir/$name.sh" 2>&1
		echo $? >/tmp/rkmod-rc
	} | prefix "$name" LOG | tee /tmp/rkmod-out
	rc=$(cat /tmp/rkmod-rc)
	if [ "$rc" -ne 0 ] && ! grep -q "^RKMOD-RESULT FAIL $name/" /tmp/rkmod-out; then
		echo "RKMOD-RESULT FAIL $name/exit scenario exited $rc without reporting a failure"
	fi
	[ "$rc" -ne 0 ] && failed=1
	dmesg -c | prefix "$name" DMESG
	# Modules a scenario leaves behind change what the next one sees; say so. Not a
	# failure: permanent modules cannot be removed (safely) at all.
	after=$(cut -d' ' -f1 /proc/modules | sort)
	left=$(echo "$after" | grep -vxF "$before" | tr '\n' ' ')
	[ -n "$before" ] || left=$(echo "$after" | tr '\n' ' ')
	[ -n "${left% }" ] && echo "RKMOD-LOG $name: left loaded: ${left% }"
	echo "RKMOD-END $name rc=$rc secs=$(awk -v a="$start" -v b="$(uptime)" 'BEGIN { printf "%.1f", b - a }')"
done
exit $failed
