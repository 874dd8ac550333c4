#!/bin/sh
# rk-lsmod: our lsmod against kmod's, its two extra views, and how fast it is.
#
#   lsmod        kmod's table, plus "[permanent]" for permanent modules (the one difference)
#   lsmod -v     state, taint, and "Other": references not held by modules (an open device)
#   lsmod --json one object per line
#   many modules with ~50 modules loaded, the same table as kmod's
#   benchmark    (rkmod.bench=1 only) 50 runs of each lsmod, taking turns
#
# The device held open is our rk_chardev on 6.1, Debian's tun (/dev/net/tun) elsewhere.
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_only_with_rk || t_done
t_require_tools tools "$RK_LSMOD" || t_done

if t_have_fixtures; then
	dev_ko=$RK_MODULES/rk_chardev.ko dev_mod=rk_chardev dev=/dev/rk_chardev
else
	dev_ko=$(t_modpath tun) dev_mod=tun dev=/dev/net/tun
fi

# --- the table ----------------------------------------------------------------------------------
t_lsmod_same table

# --- lsmod -v: a module held by an open file -----------------------------------------------------
t_run dev-insmod 0 -- "$KMOD_INSMOD" "$dev_ko"
t_check dev-node "$dev appeared" t_wait_for "$dev"
t_hold_open "$dev" "$dev_mod"
refs=$(cat "/sys/module/$dev_mod/refcnt")
holders=$(ls "/sys/module/$dev_mod/holders" 2>/dev/null | tr '\n' ' ')
# The checks below compare lsmod's columns with refcnt; they mean something only if the hold
# took effect: the holding process is alive, refcnt is at least 1, and no module holds it (so
# every reference is the open file's, lsmod -v's "Other").
# shellcheck disable=SC2317 # called through t_check
held() { kill -0 "$T_HOLDER" 2>/dev/null && [ "$refs" -ge 1 ] 2>/dev/null && [ -z "$holders" ]; }
t_check held "$dev held open by pid $T_HOLDER: $dev_mod refcnt '$refs', holders '${holders% }'" held
t_lsmod_same table-held

t_run verbose 0 -- "$RK_LSMOD" -v
t_expect_contains verbose-header stdout "Module"
taint=$(cat "/sys/module/$dev_mod/taint")
# Module Size Refs Other State Taint [Used by]
t_expect_eq verbose-held "$(awk -v m="$dev_mod" '$1 == m { print $3, $4, $5, $6 }' "$T_DIR/stdout")" \
	"$refs $refs live ${taint:--}"
perm=$(awk '$4 ~ /\[permanent\],/ { print $1; exit }' /proc/modules)
if [ -n "$perm" ]; then
	t_expect_eq verbose-permanent "$(awk -v m="$perm" '$1 == m { print $NF }' "$T_DIR/stdout")" "[permanent]"
fi

# --- lsmod --json: one object per module, one per line -------------------------------------------
t_run json 0 -- "$RK_LSMOD" --json
t_expect_eq json-lines "$(wc -l <"$T_DIR/stdout") lines" "$(wc -l </proc/modules) lines"
# shellcheck disable=SC2317 # called through t_check
every_line() { ! grep -qvE -- "$1" "$2"; } # every line of file $2 matches the ERE $1
# shellcheck disable=SC2317
has() { case $1 in *"$2"*) return 0 ;; esac; return 1; }
t_check json-objects "every line is one object with a name" \
	every_line '^\{.*"name":"[^"]+".*\}$' "$T_DIR/stdout"
t_check json-name-first 'every line starts with {"name":' \
	every_line '^\{"name":' "$T_DIR/stdout"
line=$(grep "\"name\":\"$dev_mod\"" "$T_DIR/stdout")
t_log "  $line"
for field in "\"refcnt\":$refs" "\"other_refs\":$refs" '"holders":[]' '"state":"live"' '"permanent":false' \
	"\"taint\":\"$taint\"" "\"size\":$(cat "/sys/module/$dev_mod/coresize")"; do
	t_check "json-$dev_mod-$(echo "$field" | cut -d'"' -f2)" "$field" has "$line" "$field"
done
t_release
"$KMOD_RMMOD" "$dev_mod"

# --- benchmark ----------------------------------------------------------------------------------
# Load modules from the Debian list (with their dependencies) until about 50 are listed.
start=$(t_ms)
loaded=
while read -r name expect _ path; do
	[ "$(wc -l </proc/modules)" -ge 50 ] && break
	[ "$expect" = fail ] && continue
	t_is_loaded "$name" && continue
	for p in $(t_moddeps "$name") "$T_MODDIR/$path"; do
		m=$(t_modname "$p")
		t_is_loaded "$m" && continue
		"$KMOD_INSMOD" "$p" 2>/dev/null && loaded="$loaded $m"
	done
done </rk/debian-modules.txt
count=$(wc -l </proc/modules)
t_log "benchmark: $count modules loaded (took $(($(t_ms) - start)) ms)"
t_lsmod_same table-many

# runs N TOOL: run TOOL N times and print the milliseconds that took.
# /proc/uptime has 10 ms resolution, so each block is timed as a whole. The two tools take turns
# in blocks of 10, so a change in the host's load during the benchmark hits both alike.
runs() {
	local i=0 start
	start=$(t_ms)
	while [ $i -lt "$1" ]; do
		"$2" >/dev/null
		i=$((i + 1))
	done
	echo $(($(t_ms) - start))
}
# Timing is a benchmark, not a test: only when asked (rkmod.bench=1, from bench/report.sh), and
# then reported, never failed on.
if t_bench; then
	"$KMOD_LSMOD" >/dev/null
	"$RK_LSMOD" >/dev/null
	kmod_ms=0 rk_ms=0
	for n in 1 2 3 4 5; do
		kmod_ms=$((kmod_ms + $(runs 10 "$KMOD_LSMOD")))
		rk_ms=$((rk_ms + $(runs 10 "$RK_LSMOD")))
		t_log "benchmark: $((n * 10)) of 50 runs each, kmod $kmod_ms ms, ours $rk_ms ms so far"
	done
	kmod_rss=$(busybox time -f %M "$KMOD_LSMOD" 2>&1 >/dev/null | tail -n 1)
	rk_rss=$(busybox time -f %M "$RK_LSMOD" 2>&1 >/dev/null | tail -n 1)
	# One line for bench/report.sh: BENCH <workload>|<kmod ms>|<our ms>|<kmod KiB>|<our KiB>
	echo "BENCH lsmod, $count modules loaded, 50 runs each|$kmod_ms|$rk_ms|$kmod_rss|$rk_rss"
fi

# Remove them again, last loaded first, with one rmmod (a dependency of a permanent module
# stays).
rev=
for m in $loaded; do rev="$m $rev"; done
# shellcheck disable=SC2086 # a word list
"$RK_RMMOD" $rev 2>/dev/null
t_log "benchmark: removed what it loaded, $(wc -l </proc/modules) modules left"
t_done
