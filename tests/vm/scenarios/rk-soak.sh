#!/bin/sh
# rk-soak: sustained use. N insmod/rmmod cycles of our test modules (rkmod.soak=N on the kernel
# command line; 100 by default, tests/vm/soak.sh runs 1000) while two readers run our lsmod and
# modinfo in a loop, and racing `rmmod --wait` callers compete for the same module.
# The run also ends after M minutes (rkmod.soak_minutes=M; 15 by default, 0 = no limit),
# whichever comes first, so a slow host makes `make test` shorter on cycles, not failed; the
# `cycles` result says which limit ended it. A progress line every 10 cycles (and at least every
# 30 s) keeps the console alive for the host's no-progress watchdog (tests/vm/watchdog.sh).
#
# One cycle:
#   insmod rk_basic (.ko, .ko.xz, .ko.zst in turn), rk_provider, rk_consumer, rk_chardev  -> 0
#   insmod rk_basic again                                  -> 1 (already loaded)
#   insmod stp (Debian's; uses llc, loaded throughout)     -> 0; plain rmmod llc -> 1 (in use)
#   two `rmmod --wait rk_provider` in the background, while rk_consumer still holds it
#   plain rmmod rk_provider                                -> 1 (in use by rk_consumer)
#   a process opens /dev/rk_chardev: plain rmmod rk_chardev -> 1 (reference count);
#   `rmmod --wait rk_chardev` in the background, then the file is closed -> 0
#   rmmod rk_consumer                                      -> 0; then exactly one waiter removes
#                                                             rk_provider (0) and the other says
#                                                             someone else removed it (1)
#   rmmod rk_basic, rmmod stp                              -> 0
# Readers: every lsmod exits 0 with kmod's header and well-formed lines, whatever is coming or
# going; every modinfo exits 0 and names the module.
# At the end: every tool's exit status was the expected one, no rk_* module (or stp) is left, the
# reference count of every module loaded before is what it was, and the kernel log has no
# WARNING, BUG or Oops.
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_only_with_rk || t_done
t_require_fixtures || t_done
t_require_tools tools "$RK_INSMOD" "$RK_RMMOD" "$RK_LSMOD" "$RK_MODINFO" || t_done

cycles=100 minutes=15
# shellcheck disable=SC2013 # words, not lines
for arg in $(cat /proc/cmdline); do
	case $arg in
	rkmod.soak=*) cycles=${arg#rkmod.soak=} ;;
	rkmod.soak_minutes=*) minutes=${arg#rkmod.soak_minutes=} ;;
	esac
done
limit_ms=$((minutes * 60000))
M=$RK_MODULES
ours='rk_basic rk_provider rk_consumer rk_chardev stp'
for m in $ours; do
	if t_is_loaded "$m"; then "$KMOD_RMMOD" "$m" 2>/dev/null; fi
done

# Debian's llc stays loaded throughout; each cycle loads and removes stp, which uses it, so
# llc's reference count goes up and must come back down.
llc=$(t_modpath llc) stp=$(t_modpath stp)
if [ -z "$llc" ] || [ -z "$stp" ]; then
	t_fail llc-stp "llc and stp are not in this image's modules.dep"
	t_done
fi
loaded_llc=''
if ! t_is_loaded llc; then
	t_run insmod-llc 0 -- "$RK_INSMOD" "$llc" || t_done
	loaded_llc=1
fi

# Baseline: every loaded module and its reference count.
awk '{ print $1, $3 }' /proc/modules | sort >"$T_DIR/baseline"
t_log "baseline: $(wc -l <"$T_DIR/baseline") modules loaded; $cycles cycles or $minutes minutes (0: no limit)"

calls=0 bad=0
# x EXPECTED LABEL CMD...: run a tool, count it, and note a wrong exit status (first 20 shown).
x() {
	local want="$1" label="$2" rc
	shift 2
	"$@" >"$T_DIR/x.out" 2>"$T_DIR/x.err" </dev/null
	rc=$?
	calls=$((calls + 1))
	if [ "$rc" -ne "$want" ]; then
		bad=$((bad + 1))
		if [ "$bad" -le 20 ]; then
			t_log "cycle $i $label: exit $rc, expected $want: $*"
			_t_show "$T_DIR/x.err" err
		fi
	fi
}

# Readers, until $T_DIR/stop exists. Each writes "runs failures" to its file when it stops.
stop=$T_DIR/stop
(
	runs=0 fails=0
	hdr='Module                  Size  Used by'
	while [ ! -e "$stop" ]; do
		runs=$((runs + 1))
		if ! "$RK_LSMOD" >"$T_DIR/r1.out" 2>"$T_DIR/r1.err"; then
			fails=$((fails + 1))
			[ "$fails" -le 5 ] && { echo "lsmod failed:"; cat "$T_DIR/r1.err"; }
		elif ! awk -v h="$hdr" 'NR == 1 { bad = $0 != h; next }
			NF < 3 || $2 !~ /^[0-9]+$/ || $3 !~ /^-?[0-9]+$/ { bad = 1 }
			END { exit bad }' "$T_DIR/r1.out"; then
			fails=$((fails + 1))
			[ "$fails" -le 5 ] && { echo "lsmod printed a malformed table:"; cat "$T_DIR/r1.out"; }
		fi
	done
	echo "$runs $fails" >"$T_DIR/reader.lsmod"
) &
lsmod_reader=$!
(
	runs=0 fails=0
	while [ ! -e "$stop" ]; do
		for f in rk_basic.ko rk_basic.ko.xz rk_provider.ko rk_consumer.ko rk_chardev.ko; do
			runs=$((runs + 1))
			n=$("$RK_MODINFO" -F name "$M/$f" 2>"$T_DIR/r2.err")
			if [ $? -ne 0 ] || [ "$n" != "${f%%.*}" ]; then
				fails=$((fails + 1))
				[ "$fails" -le 5 ] && { echo "modinfo $f: '$n'"; cat "$T_DIR/r2.err"; }
			fi
		done
	done
	echo "$runs $fails" >"$T_DIR/reader.modinfo"
) &
modinfo_reader=$!

# waiting FILE: wait (up to 10 s) until a `rmmod -v --wait` says in FILE that it is waiting;
# counts the waiters seen waiting.
seen_waiting=0
waiting() {
	local n=500
	while ! grep -qs '^rmmod: INFO: waiting for' "$1" && [ "$n" -gt 0 ]; do
		usleep 20000
		n=$((n - 1))
	done
	if grep -qs '^rmmod: INFO: waiting for' "$1"; then
		seen_waiting=$((seen_waiting + 1))
	else
		t_log "cycle $i: a waiter did not say it was waiting ($1):"
		_t_show "$1" err
	fi
}

waits=0 races_ok=0 races_bad=0
start=$(t_ms)
said=$start
i=0 ended_by=cycles
while [ "$i" -lt "$cycles" ]; do
	if [ "$limit_ms" -gt 0 ] && [ $(($(t_ms) - start)) -ge "$limit_ms" ]; then
		ended_by=time
		break
	fi
	i=$((i + 1))
	case $((i % 3)) in 0) basic=rk_basic.ko ;; 1) basic=rk_basic.ko.xz ;; 2) basic=rk_basic.ko.zst ;; esac
	x 0 insmod-basic "$RK_INSMOD" "$M/$basic" int_param=$i
	x 0 insmod-provider "$RK_INSMOD" "$M/rk_provider.ko"
	x 0 insmod-consumer "$RK_INSMOD" "$M/rk_consumer.ko"
	x 0 insmod-chardev "$RK_INSMOD" "$M/rk_chardev.ko"
	x 1 insmod-basic-again "$RK_INSMOD" "$M/rk_basic.ko"
	x 0 insmod-stp "$RK_INSMOD" "$stp"
	x 1 rmmod-held-llc "$RK_RMMOD" llc

	# Two waiters race for rk_provider, which rk_consumer holds. (The files go first: a
	# waiter opens its own only once it runs, and the last cycle's must not answer for it.)
	rm -f "$T_DIR"/w[123].err
	"$RK_RMMOD" -v --wait=20000 rk_provider >/dev/null 2>"$T_DIR/w1.err" </dev/null &
	w1=$!
	"$RK_RMMOD" -v --wait=20000 rk_provider >/dev/null 2>"$T_DIR/w2.err" </dev/null &
	w2=$!
	x 1 rmmod-held-provider "$RK_RMMOD" rk_provider

	# A process holds /dev/rk_chardev open until told to close it; a waiter waits for that.
	rm -f "$T_DIR/release"
	(
		exec 3</dev/rk_chardev
		while [ ! -e "$T_DIR/release" ]; do usleep 20000; done
	) &
	holder=$!
	n=500
	while [ "$(cat /sys/module/rk_chardev/refcnt)" = 0 ] && [ "$n" -gt 0 ]; do
		n=$((n - 1))
	done
	x 1 rmmod-open-chardev "$RK_RMMOD" rk_chardev
	"$RK_RMMOD" -v --wait=20000 rk_chardev >/dev/null 2>"$T_DIR/w3.err" </dev/null &
	w3=$!
	# Close the file once the waiter has seen it in use (-v says so), so it really waits.
	waiting "$T_DIR/w3.err"
	touch "$T_DIR/release"
	wait "$holder"
	wait "$w3"
	r3=$?
	calls=$((calls + 1)) waits=$((waits + 1))
	if [ "$r3" -ne 0 ]; then
		bad=$((bad + 1))
		[ "$bad" -le 20 ] && { t_log "cycle $i: rmmod --wait rk_chardev exited $r3"; _t_show "$T_DIR/w3.err" err; }
	fi

	waiting "$T_DIR/w1.err"
	waiting "$T_DIR/w2.err"
	x 0 rmmod-consumer "$RK_RMMOD" rk_consumer
	wait "$w1"
	r1=$?
	wait "$w2"
	r2=$?
	waits=$((waits + 2))
	calls=$((calls + 2))
	if [ "$((r1 + r2))" -eq 1 ] && [ "$((r1 * r2))" -eq 0 ]; then
		races_ok=$((races_ok + 1))
		loser=$T_DIR/w1.err
		[ "$r2" -eq 1 ] && loser=$T_DIR/w2.err
		if ! grep -q 'removed by someone else' "$loser"; then
			bad=$((bad + 1))
			[ "$bad" -le 20 ] && { t_log "cycle $i: the losing waiter said:"; _t_show "$loser" err; }
		fi
	else
		races_bad=$((races_bad + 1)) bad=$((bad + 1))
		if [ "$bad" -le 20 ]; then
			t_log "cycle $i: racing waiters exited $r1 and $r2 (want one 0, one 1)"
			_t_show "$T_DIR/w1.err" w1
			_t_show "$T_DIR/w2.err" w2
		fi
	fi
	x 0 rmmod-basic "$RK_RMMOD" rk_basic
	x 0 rmmod-stp "$RK_RMMOD" stp

	# Safety net: never carry a module over into the next cycle.
	for m in $ours; do
		if t_is_loaded "$m"; then
			bad=$((bad + 1))
			[ "$bad" -le 20 ] && t_log "cycle $i: $m still loaded at the end of the cycle"
			"$KMOD_RMMOD" -f "$m" 2>/dev/null
		fi
	done
	# Progress every 10 cycles, and at least every 30 s when cycles are slow.
	now=$(t_ms)
	if [ $((i % 10)) -eq 0 ] || [ $((now - said)) -ge 30000 ]; then
		t_log "cycle $i of $cycles: $calls tool runs, $bad unexpected, $((now - start)) ms"
		said=$now
	fi
done
took=$(($(t_ms) - start))
touch "$stop"
wait "$lsmod_reader"
wait "$modinfo_reader"

# Ended by the cycle count: all of them ran; ended by the clock: the time was really up, and at
# least one cycle ran.
if [ "$ended_by" = cycles ]; then
	t_check cycles "ended by the cycle count: $i of $cycles cycles in $took ms" test "$i" -eq "$cycles"
else
	t_check cycles "ended by the time limit ($minutes min): $i of $cycles cycles in $took ms" \
		test "$i" -ge 1 -a "$took" -ge "$limit_ms"
fi
t_check exit-codes "$calls tool runs ($waits racing --wait callers), $bad with an unexpected exit status or message" \
	test "$bad" -eq 0
t_check wait-races "$races_ok of $i races had exactly one winner" test "$races_ok" -eq "$i"
t_check waiters-waited "$seen_waiting of $waits --wait callers were seen waiting before the module came free" \
	test "$seen_waiting" -eq "$waits"
read -r lr lf <"$T_DIR/reader.lsmod"
t_check lsmod-reader "$lr lsmod runs alongside, $lf failed" test "$lr" -gt 0 -a "$lf" -eq 0
read -r mr mf <"$T_DIR/reader.modinfo"
t_check modinfo-reader "$mr modinfo runs alongside, $mf failed" test "$mr" -gt 0 -a "$mf" -eq 0

left=''
for m in $ours; do t_is_loaded "$m" && left="$left $m"; done
t_check none-left "rk_* modules still loaded:${left:- none}" test -z "$left"
awk '{ print $1, $3 }' /proc/modules | sort >"$T_DIR/after"
changed=$(awk 'NR == FNR { before[$1] = $2; next } ($1 in before) && before[$1] != $2 { print $1 ": " before[$1] " -> " $2 }' \
	"$T_DIR/baseline" "$T_DIR/after" | tr '\n' ' ')
t_check refcnts-back "every module loaded before has its old reference count${changed:+; changed: $changed}" \
	test -z "$changed"
same=$(cmp -s "$T_DIR/baseline" "$T_DIR/after" && echo yes || echo no)
t_check modules-back "/proc/modules lists the same modules as before" test "$same" = yes
[ -n "$loaded_llc" ] && t_run rmmod-llc 0 -- "$RK_RMMOD" llc
oops=$(dmesg | grep -cE 'WARNING|BUG|Oops|Call Trace')
t_check dmesg-clean "$oops WARNING/BUG/Oops lines in the kernel log" test "$oops" -eq 0
t_done
