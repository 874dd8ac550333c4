# shellcheck shell=sh
# Assertion helpers for rkmod's live-kernel scenarios (tests/vm/scenarios/*.sh).
#
# Written for BusyBox ash (the VM has nothing else), so: POSIX sh plus `local`.
# A scenario sources this file, runs steps, and ends with `t_done`:
#
#     . "$(dirname "$0")/lib.sh"
#     t_require_fixtures || t_done
#     t_run load 0 -- "$INSMOD" "$RK_MODULES/rk_basic.ko" int_param=7
#     t_proc_has rk_basic
#     t_run unload 0 -- "$RMMOD" rk_basic
#     t_proc_lacks rk_basic
#     t_done
#
# Every check prints exactly one line that the host (tests/vm/run.sh) parses:
#
#     RKMOD-RESULT PASS|FAIL|SKIP <scenario>/<check> [details]
#
# Anything else a scenario prints is context; run-all.sh prefixes it with
# "RKMOD-LOG <scenario>: " on its way to the serial console.
#
# Tools. INSMOD, RMMOD, LSMOD, MODINFO, MODPROBE and MODAUDIT name the implementation under test:
# kmod's (/kmod/bin, the reference) by default, ours (/rk/bin) after `t_tools rk` or when the
# kernel command line says rkmod.tools=rk. KMOD_* and RK_* always name one side each, for
# comparisons. Our binaries are copied only if they were built, so check with
# t_require_tools before using one.

# shellcheck disable=SC2034 # these are for the scenarios that source this file
KMOD_BIN=/kmod/bin
RK_BIN=/rk/bin
RK_MODULES=/rk/modules                # tests/fixtures/ (rk_*.ko, bad/)
KMOD_INSMOD=$KMOD_BIN/insmod KMOD_RMMOD=$KMOD_BIN/rmmod KMOD_LSMOD=$KMOD_BIN/lsmod
KMOD_MODINFO=$KMOD_BIN/modinfo KMOD_MODPROBE=$KMOD_BIN/modprobe KMOD_DEPMOD=$KMOD_BIN/depmod
RK_INSMOD=$RK_BIN/insmod RK_RMMOD=$RK_BIN/rmmod RK_LSMOD=$RK_BIN/lsmod
RK_MODINFO=$RK_BIN/modinfo RK_MODAUDIT=$RK_BIN/modaudit RK_MODPROBE=$RK_BIN/modprobe
RK_DEPMOD=$RK_BIN/depmod

T_SCENARIO=${T_SCENARIO:-$(basename "$0" .sh)}
T_DIR=${TMPDIR:-/tmp}/rkmod-t.$T_SCENARIO.$$
T_FAILS=0
T_PASSES=0
T_SKIPS=0
T_RC=0
mkdir -p "$T_DIR"

# t_tools kmod|rk: choose the implementation behind INSMOD, RMMOD, LSMOD, MODINFO, MODPROBE,
# MODAUDIT.
# shellcheck disable=SC2034 # the variables are for the scenarios
t_tools() {
	case $1 in
	kmod) T_TOOLS=kmod T_BIN=$KMOD_BIN ;;
	rk) T_TOOLS=rk T_BIN=$RK_BIN ;;
	*) echo "t_tools: unknown tool set '$1' (kmod|rk)" >&2; return 1 ;;
	esac
	INSMOD=$T_BIN/insmod RMMOD=$T_BIN/rmmod LSMOD=$T_BIN/lsmod MODINFO=$T_BIN/modinfo
	MODPROBE=$T_BIN/modprobe
	MODAUDIT=$RK_BIN/modaudit   # kmod has no modaudit
}
t_tools "${RKMOD_TOOLS:-kmod}"

# The image's BusyBox is built with FEATURE_SH_STANDALONE: a bare "insmod" in this shell
# runs BusyBox's own applet, link or no link, and ahead of anything in PATH. Functions come
# first, so these make the bare names mean the tools under test. (Full paths are unaffected.)
insmod() { "$INSMOD" "$@"; }
rmmod() { "$RMMOD" "$@"; }
lsmod() { "$LSMOD" "$@"; }
modinfo() { "$MODINFO" "$@"; }
depmod() { "$KMOD_BIN/depmod" "$@"; }
modprobe() { "$MODPROBE" "$@"; }

# ---------------------------------------------------------------------------- results

# _t_result STATUS CHECK [DETAILS...]: the one line the host parses. Check names are
# single tokens (spaces become '-').
_t_result() {
	local status="$1" name
	name=$(printf '%s' "$2" | tr ' \t' '--')
	shift 2
	echo "RKMOD-RESULT $status $T_SCENARIO/$name $*"
}

t_pass() { T_PASSES=$((T_PASSES + 1)); _t_result PASS "$@"; }
t_fail() { T_FAILS=$((T_FAILS + 1)); _t_result FAIL "$@"; }
t_skip() { T_SKIPS=$((T_SKIPS + 1)); _t_result SKIP "$@"; }
t_log() { echo "$*"; }

# t_check_bug NAME DETAILS BUG COMMAND...: like t_check, but a failure is a SKIP saying
# "KNOWN BUG: BUG": an open, reported bug in our tools, visible in every run without turning it
# red. Once fixed the check passes; then make it a t_check.
t_check_bug() {
	local name="$1" details="$2" bug="$3"
	shift 3
	if "$@"; then t_pass "$name" "$details"; return 0; fi
	t_skip "$name" "KNOWN BUG: $bug"
	return 1
}

# t_check NAME DETAILS COMMAND...: PASS if COMMAND succeeds, else FAIL; DETAILS goes on the line.
t_check() {
	local name="$1" details="$2"
	shift 2
	if "$@"; then t_pass "$name" "$details"; return 0; fi
	t_fail "$name" "$details"
	return 1
}

# t_done: end the scenario. Exit status 1 if any check failed (run-all.sh reports it too).
t_done() {
	echo "checks: $T_PASSES passed, $T_FAILS failed, $T_SKIPS skipped"
	rm -rf "$T_DIR"
	[ "$T_FAILS" -eq 0 ] && exit 0
	exit 1
}

# ------------------------------------------------------------------------ running tools

# _t_show FILE TAG: copy a captured stream into the log, each line tagged.
_t_show() {
	[ -s "$1" ] || return 0
	sed "s/^/    $2| /" "$1"
	# a final line without newline still shows, sed prints it
}

# t_capture CMD [ARGS...]: run CMD, keep stdout/stderr/exit status for later checks
# (T_RC, t_stdout, t_stderr, t_expect_contains stdout|stderr ...), log all three and the time
# it took (T_MS, 10 ms resolution).
# Emits no result line of its own.
t_capture() {
	local t0
	echo "  \$ $*"
	t0=$(_t_cs)
	"$@" >"$T_DIR/stdout" 2>"$T_DIR/stderr" </dev/null
	T_RC=$?
	T_MS=$((($(_t_cs) - t0) * 10))
	_t_show "$T_DIR/stdout" out
	_t_show "$T_DIR/stderr" err
	echo "    exit $T_RC  ($T_MS ms)"
	return 0
}

t_stdout() { cat "$T_DIR/stdout"; }
t_stderr() { cat "$T_DIR/stderr"; }

# _t_exit_ok EXPECTED RC: EXPECTED is a number, "nonzero" or "any".
_t_exit_ok() {
	case $1 in
	any) return 0 ;;
	nonzero) [ "$2" -ne 0 ] ;;
	*) [ "$2" -eq "$1" ] ;;
	esac
}

# t_run NAME EXPECTED_EXIT -- CMD [ARGS...]: run CMD (see t_capture) and check its exit
# status: a number, "nonzero" or "any". Returns 0 on PASS, 1 on FAIL.
t_run() {
	local name="$1" want="$2"
	shift 2
	[ "$1" = -- ] && shift
	t_capture "$@"
	if _t_exit_ok "$want" "$T_RC"; then
		t_pass "$name" "exit $T_RC"
		return 0
	fi
	t_fail "$name" "exit $T_RC, expected $want: $*"
	return 1
}

# _t_where WHERE: the file behind "stdout"/"stderr" (last t_run/t_capture) or a path.
_t_where() {
	case $1 in
	stdout | stderr) echo "$T_DIR/$1" ;;
	*) echo "$1" ;;
	esac
}

# t_expect_contains NAME WHERE TEXT: WHERE is stdout, stderr (of the last t_run/t_capture)
# or a file (/proc/modules, ...). TEXT is a fixed string.
t_expect_contains() {
	local f
	f=$(_t_where "$2")
	if grep -qF -- "$3" "$f" 2>/dev/null; then
		t_pass "$1" "$2 contains '$3'"
		return 0
	fi
	t_fail "$1" "$2 lacks '$3'"
	_t_show "$f" "$2"
	return 1
}

# t_expect_not_contains NAME WHERE TEXT: the opposite.
t_expect_not_contains() {
	local f
	f=$(_t_where "$2")
	if grep -qF -- "$3" "$f" 2>/dev/null; then
		t_fail "$1" "$2 contains '$3'"
		_t_show "$f" "$2"
		return 1
	fi
	t_pass "$1" "$2 lacks '$3'"
	return 0
}

# t_expect_eq NAME ACTUAL EXPECTED
t_expect_eq() {
	if [ "$2" = "$3" ]; then
		t_pass "$1" "'$2'"
		return 0
	fi
	t_fail "$1" "got '$2', expected '$3'"
	return 1
}

# t_expect_file NAME FILE EXPECTED: the file's content (trailing newline dropped) equals
# EXPECTED. For /sys attributes: t_expect_file int /sys/module/rk_basic/parameters/int_param 7
t_expect_file() {
	local got
	if [ ! -e "$2" ]; then
		t_fail "$1" "$2 does not exist"
		return 1
	fi
	got=$(cat "$2" 2>&1)
	if [ "$got" = "$3" ]; then
		t_pass "$1" "$2 = '$got'"
		return 0
	fi
	t_fail "$1" "$2 = '$got', expected '$3'"
	return 1
}

# t_expect_stdout_same NAME -- CMD_A [ARGS...] -- CMD_B [ARGS...]: run both (A is usually kmod,
# B ours) and require the same stdout and the same exit status; shows a diff otherwise.
# Only for steps without side effects (lsmod, modinfo, ...). Lines matching the ERE in
# T_IGNORE_RE (if set) are dropped from both outputs first; then the sed script in T_SED_B (if
# set) is applied to B's output only, to take out an intended difference of ours.
t_expect_stdout_same() {
	local name="$1" n=0 a rca rcb
	shift
	[ "$1" = -- ] && shift
	for a in "$@"; do
		[ "$a" = -- ] && break
		n=$((n + 1))
	done
	if [ "$n" -eq $# ]; then
		t_fail "$name" "usage: t_expect_stdout_same NAME -- CMD_A... -- CMD_B..."
		return 1
	fi
	echo "  A\$ $(_t_first "$n" "$@")"
	# The subshell keeps the first n arguments (for's word list is expanded once, so
	# shifting and re-appending inside the loop is safe) and runs them.
	(
		c=0
		for a in "$@"; do
			shift
			[ "$c" -lt "$n" ] && set -- "$@" "$a"
			c=$((c + 1))
		done
		"$@"
	) >"$T_DIR/a.out" 2>"$T_DIR/a.err"
	rca=$?
	shift $((n + 1))
	echo "  B\$ $*"
	"$@" >"$T_DIR/b.out" 2>"$T_DIR/b.err"
	rcb=$?
	if [ -n "${T_IGNORE_RE:-}" ]; then
		grep -vE -- "$T_IGNORE_RE" "$T_DIR/a.out" >"$T_DIR/a.cmp"
		grep -vE -- "$T_IGNORE_RE" "$T_DIR/b.out" >"$T_DIR/b.cmp"
	else
		cp "$T_DIR/a.out" "$T_DIR/a.cmp"
		cp "$T_DIR/b.out" "$T_DIR/b.cmp"
	fi
	if [ -n "${T_SED_B:-}" ]; then
		sed -e "$T_SED_B" "$T_DIR/b.cmp" >"$T_DIR/b.sed" && mv "$T_DIR/b.sed" "$T_DIR/b.cmp"
	fi
	if [ "$rca" -eq "$rcb" ] && cmp -s "$T_DIR/a.cmp" "$T_DIR/b.cmp"; then
		t_pass "$name" "same stdout ($(wc -l <"$T_DIR/a.out") lines), exit $rca"
		return 0
	fi
	diff -u "$T_DIR/a.cmp" "$T_DIR/b.cmp" | sed 's/^/    diff| /'
	_t_show "$T_DIR/a.err" A-err
	_t_show "$T_DIR/b.err" B-err
	t_fail "$name" "stdout or exit differ (exit A=$rca B=$rcb)"
	return 1
}

# t_lsmod_same NAME: kmod's lsmod and ours print the same table, once our one intended
# difference is taken out: we mark a permanent module "[permanent]" at the end of its Used-by
# column (" [permanent]" alone, ",[permanent]" after holders), as /proc/modules does. A second
# check (NAME-permanent) requires that our marks name exactly the modules whose /proc/modules
# line says "[permanent],".
t_lsmod_same() {
	local name="$1" ours kernel
	local T_SED_B='s/[ ,]\[permanent\]$//'
	t_expect_stdout_same "$name" -- "$KMOD_LSMOD" -- "$RK_LSMOD"
	ours=$(sed -n 's/^\([^ ]*\) .*[ ,]\[permanent\]$/\1/p' "$T_DIR/b.out" | sort | tr '\n' ' ')
	kernel=$(awk '$4 ~ /\[permanent\],/ { print $1 }' /proc/modules | sort | tr '\n' ' ')
	t_expect_eq "$name-permanent" "[permanent]: ${ours% }" "[permanent]: ${kernel% }"
}

# _t_first N ARGS...: print the first N of ARGS (for logging).
_t_first() {
	local n="$1" out=
	shift
	while [ "$n" -gt 0 ] && [ $# -gt 0 ]; do
		out="$out $1"
		shift
		n=$((n - 1))
	done
	echo "${out# }"
}

# ------------------------------------------------------------------- kernel state

# t_proc_line MODULE: print MODULE's /proc/modules line (nothing, status 1, if absent).
t_proc_line() {
	grep "^$1 " /proc/modules
}

# t_proc_has MODULE [ERE [NAME]]: MODULE is in /proc/modules and, given ERE, its line matches.
# e.g. t_proc_has rk_permanent '\[permanent\],'
t_proc_has() {
	local mod="$1" re="$2" name="${3:-proc-has-$1}" line
	line=$(t_proc_line "$mod")
	if [ -z "$line" ]; then
		t_fail "$name" "$mod not in /proc/modules"
		return 1
	fi
	if [ -n "$re" ] && ! printf '%s\n' "$line" | grep -qE -- "$re"; then
		t_fail "$name" "'$line' does not match /$re/"
		return 1
	fi
	t_pass "$name" "$line"
	return 0
}

# t_proc_lacks MODULE [NAME]: MODULE is not in /proc/modules.
t_proc_lacks() {
	local mod="$1" name="${2:-proc-lacks-$1}" line
	line=$(t_proc_line "$mod")
	if [ -n "$line" ]; then
		t_fail "$name" "still loaded: $line"
		return 1
	fi
	t_pass "$name" "$mod not in /proc/modules"
	return 0
}

# t_modules_snapshot: the sorted names in /proc/modules, one per line (to compare before/after).
t_modules_snapshot() { cut -d' ' -f1 /proc/modules | sort; }

# t_is_loaded MODULE: status only, no result line.
t_is_loaded() { grep -q "^$1 " /proc/modules; }

# t_wait_for PATH [TENTHS]: wait up to TENTHS/10 s (default 3 s) for PATH to exist.
t_wait_for() {
	local n="${2:-30}"
	while [ ! -e "$1" ] && [ "$n" -gt 0 ]; do
		usleep 100000
		n=$((n - 1))
	done
	[ -e "$1" ]
}

# t_hold_open DEVICE MODULE [SECONDS]: start a background process that keeps DEVICE open for
# SECONDS (default 600), which holds a reference on MODULE (the device's fops.owner), and wait
# (up to 3 s) until /sys/module/MODULE/refcnt shows it. Its pid is in T_HOLDER; t_release ends
# it early. Status 1 if the reference count never went up.
t_hold_open() {
	local dev="$1" mod="$2" secs="${3:-600}" n=30
	# The subshell opens fd 3, then becomes sleep, which keeps the file open.
	(
		exec 3<"$dev"
		exec sleep "$secs"
	) &
	T_HOLDER=$!
	while [ "$(cat "/sys/module/$mod/refcnt" 2>/dev/null)" = 0 ] && [ "$n" -gt 0 ]; do
		usleep 100000
		n=$((n - 1))
	done
	[ "$(cat "/sys/module/$mod/refcnt" 2>/dev/null)" -gt 0 ] 2>/dev/null
}

# t_release: end the t_hold_open process (closing the device) and reap it.
t_release() {
	[ -n "${T_HOLDER:-}" ] || return 0
	kill "$T_HOLDER" 2>/dev/null
	wait "$T_HOLDER" 2>/dev/null
	T_HOLDER=
}

# t_open_later FILE: a background shell opens FILE on fd 3 and waits for t_then. Only that
# shell holds the file, and it never forks while holding it: closing any copy of the
# descriptor (a child's exit, a redirection) calls into the file's operations (filp_close:
# ->flush), which after an unload race is freed code. It waits on a FIFO with builtins only.
t_open_later() {
	rm -f /tmp/rk-go
	mkfifo /tmp/rk-go
	(
		exec 3<"$1" || exit 1
		read -r what </tmp/rk-go
		case $what in
		read) read -r line <&3 && echo "read: $line" ;;
		close) exec 3<&- ;;
		esac
	) &
	T_OPENER=$!
	usleep 300000
}

# t_then read|close: the t_open_later shell reads a line from its file, or closes it (builtins,
# no fork); waits for it.
t_then() {
	echo "$1" >/tmp/rk-go
	wait "$T_OPENER"
}

# t_unload_race MODULE FILE read|close: the unload race of an ownerless file_operations. With
# FILE open (t_open_later), MODULE's refcnt stays 0 and rmmod succeeds (ours, given the module
# file, warns first); then the opener reads or closes FILE, which runs freed code: the oops-*
# scenarios boot with oops=panic, so this is where the VM ends.
t_unload_race() {
	t_open_later "$2"
	t_expect_file refcnt-open "/sys/module/$1/refcnt" 0
	if [ "${RKMOD_TOOLS:-}" = rk ]; then
		# -v: debugfs-only tables are named too.
		t_run rmmod-while-open 0 -- "$RMMOD" -v "$RK_MODULES/$1.ko"
		t_expect_contains rmmod-warns stderr \
			"removing $1 while one of its files is open will crash the kernel"
	else
		t_run rmmod-while-open 0 -- "$RMMOD" "$1"
	fi
	t_proc_lacks "$1"
	echo "$3 on the open file: this oopses"
	sleep 1
	t_then "$3"
	t_fail no-oops "$3 on a file of the removed $1 returned"
}

# t_ms: milliseconds since boot (from /proc/uptime: 10 ms resolution), for timing steps.
# (BusyBox's date has no %N.) t_capture/t_run leave the time the command took in T_MS.
t_ms() { echo $(($(_t_cs) * 10)); }

# _t_cs: centiseconds since boot, without starting a process ("123.45" -> 12345).
_t_cs() {
	local up
	read -r up _ </proc/uptime
	echo "${up%.*}${up#*.}"
}

# ------------------------------------------------------------------ prerequisites

# t_require_tools CHECK PATH...: SKIP CHECK and return 1 unless every PATH is executable.
# e.g. t_require_tools rk-lsmod "$RK_LSMOD" || return 0
t_require_tools() {
	local name="$1" p missing=
	shift
	for p in "$@"; do
		[ -x "$p" ] || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	t_skip "$name" "not in this image:$missing"
	return 1
}

# t_bench: status only: was a benchmark asked for (rkmod.bench=1 on the kernel command line)?
t_bench() { grep -qw 'rkmod.bench=1' /proc/cmdline; }

# t_have_fixtures: status only: are our test modules loadable on this kernel?
t_have_fixtures() {
	[ "$(cat "$RK_MODULES/KERNELRELEASE" 2>/dev/null)" = "$(uname -r)" ]
}

# t_require_fixtures: our test modules are built for one kernel release (their vermagic,
# recorded by mkinitramfs.sh in $RK_MODULES/KERNELRELEASE); SKIP unless this is that kernel.
t_require_fixtures() {
	local want
	want=$(cat "$RK_MODULES/KERNELRELEASE" 2>/dev/null)
	if [ -z "$want" ]; then
		t_skip fixtures "no test modules in this image"
		return 1
	fi
	if [ "$want" != "$(uname -r)" ]; then
		t_skip fixtures "test modules are built for $want, this kernel is $(uname -r)"
		return 1
	fi
	return 0
}

# t_only_with_rk: SKIP unless this run tests our tools (--tools rk). For scenarios that run both
# sides themselves ($RK_* against $KMOD_*, step by step): under --tools kmod they would do
# exactly the same work again.
t_only_with_rk() {
	[ "$T_TOOLS" = rk ] && return 0
	t_skip tools "compares \$RK_* with \$KMOD_* itself, whatever --tools says: runs with --tools rk"
	return 1
}

# t_require_kernel_ge MAJOR.MINOR: SKIP unless the running kernel is at least that version.
t_require_kernel_ge() {
	local have want
	have=$(uname -r | awk -F. '{ printf "%d%03d", $1, $2 }')
	want=$(echo "$1" | awk -F. '{ printf "%d%03d", $1, $2 }')
	[ "$have" -ge "$want" ] && return 0
	t_skip "kernel-ge-$1" "kernel $(uname -r) is older than $1"
	return 1
}

# ------------------------------------------------------------ Debian module tree

T_MODDIR=/lib/modules/$(uname -r)

# t_modname FILE: the module name of FILE (basename up to the first '.', '-' -> '_').
t_modname() {
	local b="${1##*/}"
	echo "${b%%.*}" | tr - _
}

# t_modpath NAME: absolute path of module NAME in this kernel's modules.dep (status 1 if none).
t_modpath() {
	local want
	want=$(echo "$1" | tr - _)
	awk -F: -v want="$want" -v dir="$T_MODDIR" '
		{ b = $1; sub(/.*\//, "", b); sub(/\..*/, "", b); gsub(/-/, "_", b)
		  if (b == want) { print dir "/" $1; found = 1; exit } }
		END { exit !found }' "$T_MODDIR/modules.dep"
}

# t_moddeps NAME: dependency paths of NAME in load order (modules.dep lists them
# last-loaded-first, the way modprobe reads it).
t_moddeps() {
	local want
	want=$(echo "$1" | tr - _)
	awk -F: -v want="$want" -v dir="$T_MODDIR" '
		{ b = $1; sub(/.*\//, "", b); sub(/\..*/, "", b); gsub(/-/, "_", b)
		  if (b == want) { n = split($2, d, " "); for (i = n; i >= 1; i--) print dir "/" d[i]; exit } }
		' "$T_MODDIR/modules.dep"
}

# t_load_deps NAME: insmod (with $INSMOD) NAME's dependencies that are not loaded yet, in
# order. Prints the names it loaded (for t_unload_list). Status 1 if one failed.
t_load_deps() {
	local p m
	for p in $(t_moddeps "$1"); do
		m=$(t_modname "$p")
		t_is_loaded "$m" && continue
		if ! "$INSMOD" "$p" >"$T_DIR/dep.err" 2>&1 </dev/null; then
			sed "s/^/    dep $m| /" "$T_DIR/dep.err" >&2
			return 1
		fi
		echo "$m"
	done
	return 0
}

# t_unload_list NAME...: rmmod (with $RMMOD) each NAME in reverse order, ignoring failures
# (a dependency may be held by a permanent module). Logs what stayed.
t_unload_list() {
	local m rev=
	for m in "$@"; do rev="$m $rev"; done
	for m in $rev; do
		t_is_loaded "$m" || continue
		"$RMMOD" "$m" >/dev/null 2>&1 || echo "  (left loaded: $m, holders:$(ls "/sys/module/$m/holders" 2>/dev/null | tr '\n' ' '))"
	done
}

# t_kconfig CONFIG_NAME: the running kernel's value for it (y, m, a string; empty if unset),
# from the config file mkinitramfs.sh copies to /boot. Status 2 if there is no config file.
t_kconfig() {
	local f
	f=/boot/config-$(uname -r)
	[ -f "$f" ] || return 2
	sed -n "s/^$1=//p" "$f" | tr -d '"'
}
