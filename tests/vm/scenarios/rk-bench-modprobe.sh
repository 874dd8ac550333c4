#!/bin/sh
# rk-bench-modprobe: how long our modprobe takes against kmod's to insert a module with its
# dependencies and to remove it again, on the depmod-indexed tree of the image. A benchmark,
# so it runs only when asked (rkmod.bench=1, set by bench/report.sh) and prints BENCH lines
# instead of failing on a ratio; its checks only make sure each step worked.
#
# Workload: bridge, which needs stp and llc (three modules inserted in dependency order).
# Each round is "modprobe bridge" (timed as insertion), then the removal of all three (timed):
# "modprobe -r bridge", then kmod's rmmod of whatever of stp and llc is still loaded. kmod's -r
# leaves llc behind, so its removal time includes one more rmmod; ours removes the whole
# unused chain itself. Either way the round ends with nothing loaded. 20 rounds per tool, the tools taking turns in blocks of 5 (so the host's load hits
# both alike). Peak RSS is BusyBox time's %M for one `modprobe bridge`.
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_only_with_rk || t_done
if ! t_bench; then
	t_skip bench "a benchmark: runs with rkmod.bench=1 (bench/report.sh)"
	t_done
fi
t_require_tools tools "$RK_MODPROBE" "$KMOD_MODPROBE" || t_done
t_modpath bridge >/dev/null || { t_skip bridge "bridge.ko is not in the image"; t_done; }

clean() {
	for m in bridge stp llc; do
		t_is_loaded "$m" && "$KMOD_RMMOD" "$m" >/dev/null 2>&1
	done
	return 0
}

# block TOOL: 5 rounds; prints "<insert ms> <remove ms>".
block() {
	local i=0 a b c ins=0 rem=0
	while [ $i -lt 5 ]; do
		a=$(t_ms)
		"$1" bridge >/dev/null 2>&1 </dev/null || echo "modprobe failed: $1 bridge" >&2
		b=$(t_ms)
		"$1" -r bridge >/dev/null 2>&1 </dev/null || echo "modprobe -r failed: $1 bridge" >&2
		clean
		c=$(t_ms)
		ins=$((ins + b - a)) rem=$((rem + c - b)) i=$((i + 1))
	done
	echo "$ins $rem"
}

clean
t_proc_lacks bridge clean-start
t_run load-rk 0 -- "$RK_MODPROBE" bridge
t_expect_eq loaded-chain "$(for m in bridge stp llc; do t_is_loaded $m && printf '%s ' $m; done)" "bridge stp llc "
clean
ki=0 kr=0 ri=0 rr=0
for n in 1 2 3 4; do
	set -- $(block "$KMOD_MODPROBE")
	ki=$((ki + $1)) kr=$((kr + $2))
	set -- $(block "$RK_MODPROBE")
	ri=$((ri + $1)) rr=$((rr + $2))
	# Progress for the host's no-progress watchdog (a loaded host makes these slow).
	t_log "bench modprobe: $((n * 5)) of 20 rounds, kmod $ki+$kr ms, ours $ri+$rr ms so far"
done
# rss TOOL ARGS...: BusyBox time's peak RSS (KiB) of one run.
rss() { busybox time -f %M "$@" 2>&1 >/dev/null | tail -n 1; }
k_ins=$(rss "$KMOD_MODPROBE" bridge) k_rem=$(rss "$KMOD_MODPROBE" -r bridge)
clean
r_ins=$(rss "$RK_MODPROBE" bridge) r_rem=$(rss "$RK_MODPROBE" -r bridge)
clean
t_proc_lacks llc unloaded-all
echo "BENCH modprobe bridge (+ stp, llc), 20 insertions|$ki|$ri|$k_ins|$r_ins"
echo "BENCH modprobe -r bridge (+ rmmod of what kmod leaves), 20 removals|$kr|$rr|$k_rem|$r_rem"
t_done
