#!/bin/sh
# rk-bench-insmod: how long our insmod takes against kmod's, for plain and compressed modules.
# A benchmark, so it runs only when asked (rkmod.bench=1, set by bench/report.sh) and prints
# BENCH lines instead of failing on a ratio; its checks only make sure each load worked.
#
#   6.1 (no in-kernel decompression): our rk_basic as .ko, .ko.xz and .ko.zst, and Debian's
#       bonding.ko; both tools decompress in user space and call init_module.
#   6.12 (CONFIG_MODULE_DECOMPRESS): Debian's .ko.xz (dummy, bonding); ours hands the file to
#       finit_module(MODULE_INIT_COMPRESSED_FILE), kmod 30 decompresses it itself.
#
# Each workload is 20 rounds of "insmod FILE; kmod's rmmod NAME", the tools taking turns in
# blocks of 5 rounds (so the host's load hits both alike); the time includes the same rmmod for
# both. Peak RSS is BusyBox time's %M for one insmod.
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_only_with_rk || t_done
if ! t_bench; then
	t_skip bench "a benchmark: runs with rkmod.bench=1 (bench/report.sh)"
	t_done
fi
t_require_tools tools "$RK_INSMOD" || t_done

# block TOOL FILE NAME: 5 rounds; prints the milliseconds they took.
block() {
	local i=0 start
	start=$(t_ms)
	while [ $i -lt 5 ]; do
		"$1" "$2" >/dev/null 2>&1 </dev/null || echo "load failed: $1 $2" >&2
		"$KMOD_RMMOD" "$3" >/dev/null 2>&1 || echo "unload failed: $3" >&2
		i=$((i + 1))
	done
	echo $(($(t_ms) - start))
}

# bench LABEL FILE: both tools, 4 blocks each, then one line for bench/report.sh:
# BENCH <workload>|<kmod ms>|<our ms>|<kmod KiB>|<our KiB>
bench() {
	local label="$1" file="$2" name kmod_ms=0 rk_ms=0 kmod_rss rk_rss n
	name=$(t_modname "$file")
	if t_is_loaded "$name"; then
		t_skip "load-$label" "$name is already loaded"
		return
	fi
	t_run "load-$label" 0 -- "$RK_INSMOD" "$file" || return
	"$KMOD_RMMOD" "$name"
	for n in 1 2 3 4; do
		kmod_ms=$((kmod_ms + $(block "$KMOD_INSMOD" "$file" "$name")))
		rk_ms=$((rk_ms + $(block "$RK_INSMOD" "$file" "$name")))
		# Progress for the host's no-progress watchdog (a loaded host makes these slow).
		t_log "bench $label: $((n * 5)) of 20 rounds, kmod $kmod_ms ms, ours $rk_ms ms so far"
	done
	kmod_rss=$(busybox time -f %M "$KMOD_INSMOD" "$file" 2>&1 >/dev/null | tail -n 1)
	"$KMOD_RMMOD" "$name"
	rk_rss=$(busybox time -f %M "$RK_INSMOD" "$file" 2>&1 >/dev/null | tail -n 1)
	"$KMOD_RMMOD" "$name"
	t_proc_lacks "$name" "unloaded-$label"
	echo "BENCH insmod $label ($(wc -c <"$file") bytes), 20 loads + rmmod each|$kmod_ms|$rk_ms|$kmod_rss|$rk_rss"
}

if t_have_fixtures; then
	for f in rk_basic.ko rk_basic.ko.xz rk_basic.ko.zst; do
		bench "$f" "$RK_MODULES/$f"
	done
fi
for m in dummy bonding; do
	p=$(t_modpath "$m") || continue
	# Their dependencies first (none for these two today), loaded once.
	t_load_deps "$m" >/dev/null
	bench "${p##*/}" "$p"
done
t_done
