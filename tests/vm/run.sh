#!/usr/bin/env bash
# Run rkmod's live-kernel scenarios in a QEMU VM (TCG) booting Debian kernels.
#
#   tests/vm/run.sh [--kernel 6.1|6.12|all]... [--scenario NAME[,NAME]]... [--tools kmod|rk]
#                   [--verbose] [--shell] [--cargo-build]
#
#   --kernel K        kernel to boot; repeatable; default: 6.1 and 6.12, one boot each
#   --scenario NAME   scenario(s) from tests/vm/scenarios/ (without .sh); default: all
#   --tools kmod|rk   implementation behind $INSMOD/$RMMOD/... in the scenarios (default kmod)
#   --verbose, -v     also list passing checks
#   --shell           boot interactively: run the scenarios, then a shell on the console
#   --cargo-build     run `cargo build --release` first
#   --transcript      print what the scenarios printed (their RKMOD-LOG lines), as a session
#   --jobs N          boot up to N kernels at once (default: all of them if the host has 2+
#                     CPUs, else 1; also RKMOD_VM_JOBS)
#
# Scenarios named oops-*.sh end the kernel on purpose (an unload race: the module is removed
# while its code can still be called). Each gets a boot of its own on 6.1 (our test modules'
# kernel), after the normal boots, with oops=panic (panic_on_oops), so the VM ends at the oops; the judge
# (--expect-oops) passes it only if the kernel oopsed with the module the scenario's
# "# oops-module: NAME" line names as "last unloaded". --scenario picks them like the others.
#
# Environment: RKMOD_DEBIAN_DIR (kernel trees, default <repo>/target/debian, holding 6.1/ and
# 6.12/ as made by tests/debian/fetch.sh), RKMOD_BIN_DIR (our binaries, default
# <repo>/target/release), RKMOD_VM_STALL (seconds without a new console line before qemu is
# killed, default 300), RKMOD_VM_TIMEOUT (overall cap per boot in seconds, default 10800),
# RKMOD_VM_QEMU_ARGS (extra qemu arguments), RKMOD_SOAK_CYCLES (cycles of the rk-soak
# scenario, default 100; tests/vm/soak.sh runs 1000), RKMOD_SOAK_MINUTES (rk-soak also stops
# after this many minutes, whichever comes first; default 15, 0 = no limit), RKMOD_VM_BENCH (1: the scenarios also
# time themselves and print BENCH lines; bench/report.sh sets it), RKMOD_VM_EXTRA (colon-separated directories
# copied over the image root, e.g. one with scenarios/foo.sh), CI (when "true", a missing prerequisite fails
# the run instead of skipping it, and so does a SKIP not listed in tests/vm/expected-skips).
#
# Output: target/vm/<kernel>/initrd.cpio.gz, target/vm/<kernel>.log (the whole serial console).
# The last line is always "N passed, N failed"; the exit status is non-zero on any failed
# check, a scenario that checked nothing, a VM that did not finish or went silent, a kernel
# oops/warning, or (under CI) a missing prerequisite or an unexpected SKIP (tests/vm/judge.sh).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$repo/target/vm
debian_dir=${RKMOD_DEBIAN_DIR:-$repo/target/debian}
stall_s=${RKMOD_VM_STALL:-300}
timeout_s=${RKMOD_VM_TIMEOUT:-10800}
PATH=$PATH:/usr/sbin:/sbin

log() { printf 'run.sh: %s\n' "$*" >&2; }
usage() { sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "$0"; exit "${1:-0}"; }

kernels=() scenarios=() tools=kmod verbose=0 shell=0 cargo=0 transcript=0 jobs=${RKMOD_VM_JOBS:-}
while [[ $# -gt 0 ]]; do
	case $1 in
	--kernel) [[ $# -ge 2 ]] || usage 2; kernels+=("$2"); shift 2 ;;
	--kernel=*) kernels+=("${1#*=}"); shift ;;
	--scenario) [[ $# -ge 2 ]] || usage 2; scenarios+=("${2//,/ }"); shift 2 ;;
	--scenario=*) v=${1#*=}; scenarios+=("${v//,/ }"); shift ;;
	--tools) [[ $# -ge 2 ]] || usage 2; tools=$2; shift 2 ;;
	--tools=*) tools=${1#*=}; shift ;;
	-v | --verbose) verbose=1; shift ;;
	--shell) shell=1; shift ;;
	--cargo-build) cargo=1; shift ;;
	--transcript) transcript=1; shift ;;
	--jobs) [[ $# -ge 2 ]] || usage 2; jobs=$2; shift 2 ;;
	--jobs=*) jobs=${1#*=}; shift ;;
	-h | --help) usage 0 ;;
	*) log "unknown argument: $1"; usage 2 ;;
	esac
done
((${#kernels[@]})) || kernels=(6.1 6.12)
for i in "${!kernels[@]}"; do [[ ${kernels[$i]} == all ]] && kernels=(6.1 6.12) && break; done
for k in "${kernels[@]}"; do
	case $k in 6.1 | 6.12) ;; *) log "unknown kernel '$k' (6.1, 6.12 or all)"; usage 2 ;; esac
done
case $tools in kmod | rk) ;; *) log "--tools must be kmod or rk"; usage 2 ;; esac
if [[ -z $jobs ]]; then
	jobs=1
	(($(nproc 2>/dev/null || echo 1) >= 2)) && jobs=${#kernels[@]}
fi
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { log "--jobs must be a positive number"; usage 2; }
# shellcheck disable=SC2206 # split the comma/space separated scenario names
scenarios=(${scenarios[*]:-})
# The oops-* scenarios boot alone (see above); the others share one boot per kernel.
oops_scenarios=() normal_scenarios=()
for s in "${scenarios[@]}"; do
	case $s in oops-*) oops_scenarios+=("$s") ;; *) normal_scenarios+=("$s") ;; esac
done
if ((${#scenarios[@]} == 0)); then
	for f in "$here"/scenarios/oops-*.sh; do [[ -f $f ]] && oops_scenarios+=("$(basename "$f" .sh)"); done
elif ((${#normal_scenarios[@]} == 0)); then
	kernels_normal=0
fi
scenarios=("${normal_scenarios[@]}")

# shellcheck disable=SC2034 # also for host-lib.sh
case ${CI:-} in true | 1 | yes) ci=1 ;; *) ci=0 ;; esac

# --- prerequisites -------------------------------------------------------------------------------
# prereq_missing, as_root, apt_install, is_static_busybox
# shellcheck source=SCRIPTDIR/host-lib.sh
. "$here/host-lib.sh"

# capsh is optional: nocap.sh falls back to unshare.
problems=()
need_commands qemu-system-x86_64:qemu-system-x86 kmod:kmod depmod:kmod cpio:cpio readelf:binutils \
	xz:xz-utils gzip:gzip timeout:coreutils flock:util-linux 'capsh:libcap2-bin?'
((${#problems[@]})) && prereq_missing "${problems[@]}"

# Kernel trees: DIR/<k>/boot/vmlinuz-* and DIR/<k>/lib/modules/<kver>/.
vmlinuz_of() { compgen -G "$debian_dir/$1/boot/vmlinuz-*" | head -n 1; }
need_fetch=0
for k in "${kernels[@]}"; do
	[[ -n $(vmlinuz_of "$k") && -d $debian_dir/$k/lib/modules ]] || need_fetch=1
done
if ((need_fetch)); then
	if [[ -x $repo/tests/debian/fetch.sh ]]; then
		log "kernel trees missing under $debian_dir: running tests/debian/fetch.sh"
		"$repo/tests/debian/fetch.sh" "$debian_dir" >&2 || log "tests/debian/fetch.sh failed"
	else
		log "tests/debian/fetch.sh not found"
	fi
fi
for k in "${kernels[@]}"; do
	[[ -n $(vmlinuz_of "$k") ]] || problems+=("no kernel $debian_dir/$k/boot/vmlinuz-* (tests/debian/fetch.sh, or set RKMOD_DEBIAN_DIR)")
done
((${#problems[@]})) && prereq_missing "${problems[@]}"

# Our test modules are built for 6.1; scenarios skip them on other kernels.
if [[ " ${kernels[*]} " == *" 6.1 "* && ! -f $repo/tests/fixtures/rk_basic.ko ]]; then
	log "test modules missing: running tests/modules/build.sh"
	[[ -d /usr/src/linux-headers-6.1.0-50-amd64 ]] ||
		apt_install linux-headers-6.1.0-50-amd64 linux-kbuild-6.1 gcc make || true
	"$repo/tests/modules/build.sh" >&2 || log "tests/modules/build.sh failed"
	[[ -f $repo/tests/fixtures/rk_basic.ko ]] ||
		prereq_missing "test modules tests/fixtures/rk_*.ko missing and tests/modules/build.sh could not build them"
fi

if ((cargo)); then
	(cd "$repo" && cargo build --release) >&2 || { log "cargo build --release failed"; echo "0 passed, 1 failed"; exit 1; }
fi

# --- one boot per kernel -------------------------------------------------------------------------
mkdir -p "$out"
# Live-kernel tests are serialised (STYLE.md 12): one VM run at a time per checkout.
exec 9>"$out/.lock"
if ! flock -n 9; then
	log "another tests/vm/run.sh is running; waiting for it"
	flock 9
fi

total_pass=0 total_fail=0 total_skip=0
failures=()

# report KERNEL LOG QEMU_RC SECS: judge the console log (tests/vm/judge.sh: the same rules the
# self-test checks), print what it says, update the totals.
# A fifth argument, MODULE, judges a boot that must end in an oops from MODULE (oops-*).
report() {
	local k=$1 logf=$2 qrc=$3 secs=$4 oops_module=${5:-} verdict last args=()
	((verbose)) && args+=(--verbose)
	((transcript)) && args+=(--transcript)
	if [[ -n $oops_module ]]; then
		args+=(--expect-oops "$oops_module")
	elif ((${#scenarios[@]} == 0)); then
		# Without --scenario, every scenario in the tree must have run.
		args+=(--scenarios "$all_scenarios")
	fi
	verdict=$("$here/judge.sh" --kernel "$k" --qemu-rc "$qrc" --secs "$secs" "${args[@]}" "$logf")
	printf '%s\n' "$verdict"
	while IFS= read -r line; do
		failures+=("[$k] ${line#  FAIL }")
	done < <(grep '^  FAIL ' <<<"$verdict" || true)
	# "  kernel K: P passed, F failed, S skipped (U unexpected); console log: LOG"
	last=$(tail -n 1 <<<"$verdict")
	if [[ $last =~ :\ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped ]]; then
		total_pass=$((total_pass + BASH_REMATCH[1])) total_fail=$((total_fail + BASH_REMATCH[2]))
		total_skip=$((total_skip + BASH_REMATCH[3]))
	else
		total_fail=$((total_fail + 1)); failures+=("[$k] judge.sh gave no verdict")
	fi
}
all_scenarios=$(cd "$here/scenarios" && for f in *.sh; do
	case $f in oops-*) ;; *) printf '%s ' "${f%.sh}" ;; esac
done)

# Each kernel boots in its own qemu; with --jobs N (default: all at once when the host has 2+
# CPUs) up to N run side by side, which halves the wall time of a two-kernel run. The results
# are reported in kernel order once each has finished.
started=()
declare -A t1_of=() pid_of=() cmd_of=()
# Ctrl-C: stop the boots still running (watchdog.sh passes the signal on to its qemu).
trap 'kill "${pid_of[@]}" 2>/dev/null; exit 130' INT TERM
for k in "${kernels[@]}"; do
	[[ ${kernels_normal:-1} == 0 ]] && break
	vmlinuz=$(vmlinuz_of "$k")
	initrd=$out/$k/initrd.cpio.gz
	logf=$out/$k.log
	t0=$(date +%s.%N)
	extra=()
	[[ -n ${RKMOD_VM_EXTRA:-} ]] && IFS=: read -ra extra <<<"$RKMOD_VM_EXTRA"
	if ! "$here/mkinitramfs.sh" "$initrd" "$debian_dir/$k" "${extra[@]}" >"$out/$k.mkinitramfs.log" 2>&1; then
		cat "$out/$k.mkinitramfs.log" >&2
		failures+=("[$k] mkinitramfs.sh failed")
		total_fail=$((total_fail + 1))
		continue
	fi
	sed 's/^/  /' "$out/$k.mkinitramfs.log" >&2
	# no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check can time out
	# and panic the boot ("IO-APIC + timer doesn't work"); a busy host must only make it slower.
	append="console=ttyS0 panic=-1 no_timer_check quiet rkmod.tools=$tools"
	# For scenarios/modprobe.sh: modprobe reads module options and blacklist entries from the
	# kernel command line (the kernel itself ignores them for loadable modules). ppp-generic is
	# spelt with '-' on purpose: kmod does not normalise these names, rkmod does.
	append+=" brd.rd_size=2048 modprobe.blacklist=vcan,ppp-generic"
	[[ $k == 6.1 ]] && built_61=1
	((${#scenarios[@]})) && append+=" rkmod.scenario=$(IFS=,; echo "${scenarios[*]}")"
	[[ -n ${RKMOD_SOAK_CYCLES:-} ]] && append+=" rkmod.soak=$RKMOD_SOAK_CYCLES"
	[[ -n ${RKMOD_SOAK_MINUTES:-} ]] && append+=" rkmod.soak_minutes=$RKMOD_SOAK_MINUTES"
	[[ ${RKMOD_VM_BENCH:-0} == 1 ]] && append+=" rkmod.bench=1"
	# shellcheck disable=SC2206 # extra qemu arguments are meant to be split
	qemu=(qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nographic -no-reboot -nic none
		-kernel "$vmlinuz" -initrd "$initrd" ${RKMOD_VM_QEMU_ARGS:-})
	if ((shell)); then
		log "interactive: ${qemu[*]} -append '$append rkmod.shell=1'  (Ctrl-A x quits qemu)"
		"${qemu[@]}" -append "$append rkmod.shell=1"
		continue
	fi
	# At most $jobs at once: wait until one of those running has finished.
	while (($(jobs -rp | wc -l) >= jobs)); do
		wait -n 2>/dev/null || true
	done
	t1_of[$k]=$(date +%s.%N)
	log "booting $k: $vmlinuz, initrd $(du -k "$initrd" | cut -f1) KiB (built in $(awk -v a="$t0" -v b="${t1_of[$k]}" 'BEGIN { printf "%.1f", b - a }')s)"
	# No fixed time limit: the watchdog ends qemu when the console stays silent for $stall_s
	# (scenarios print progress), or after the generous overall cap.
	"$here/watchdog.sh" "$stall_s" "$timeout_s" "$logf" "${qemu[@]}" -append "$append" &
	pid_of[$k]=$!
	cmd_of[$k]=$(printf '%q ' "${qemu[@]}" -append "$append")
	started+=("$k")
done
for k in "${started[@]}"; do
	wait "${pid_of[$k]}"
	qrc=$?
	# A kernel that dies before our init has said a word (no RKMOD-INFO line) died of TCG, not
	# of anything under test: on a loaded host qemu's multi-threaded TCG has oopsed 6.12 while
	# it patched its own code at boot ("Oops: int3" in the idle loop). Boot once more and say
	# so; the second boot is judged as any other, and a second early death fails the run.
	# (Not anchored: the console's reset sequence precedes the first line.)
	if ! grep -aq 'RKMOD-INFO kernel=' "$out/$k.log" && grep -aq 'Kernel panic - not syncing' "$out/$k.log"; then
		cp "$out/$k.log" "$out/$k.early-death.log"
		log "$k: the kernel died before init started (see $out/$k.early-death.log); booting it once more"
		t1_of[$k]=$(date +%s.%N)
		eval "\"\$here/watchdog.sh\" \"\$stall_s\" \"\$timeout_s\" \"\$out/\$k.log\" ${cmd_of[$k]}"
		qrc=$?
	fi
	# The console log was last written when that qemu ended.
	secs=$(awk -v a="${t1_of[$k]}" -v b="$(date -r "$out/$k.log" +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	report "$k" "$out/$k.log" "$qrc" "$secs"
done

# One boot per oops-* scenario, 6.1 only (the fixtures' kernel), one after the other: each ends
# in an oops and a panic (panic_on_oops=1, panic=-1, -no-reboot), which is what is judged.
if [[ " ${kernels[*]} " == *" 6.1 "* ]] && ((${#oops_scenarios[@]})) && ((!shell)); then
	k=6.1
	vmlinuz=$(vmlinuz_of "$k")
	initrd=$out/$k/initrd.cpio.gz
	if [[ ${built_61:-0} != 1 ]]; then
		extra=()
		[[ -n ${RKMOD_VM_EXTRA:-} ]] && IFS=: read -ra extra <<<"$RKMOD_VM_EXTRA"
		"$here/mkinitramfs.sh" "$initrd" "$debian_dir/$k" "${extra[@]}" >"$out/$k.mkinitramfs.log" 2>&1 ||
			{ failures+=("[$k] mkinitramfs.sh failed"); total_fail=$((total_fail + 1)); }
	fi
	for s in "${oops_scenarios[@]}"; do
		[[ -f $initrd ]] || break
		module=$(sed -n 's/^# oops-module: *//p' "$here/scenarios/$s.sh" | head -n 1)
		if [[ -z $module ]]; then
			failures+=("[$k] $s: no '# oops-module: NAME' line in scenarios/$s.sh")
			total_fail=$((total_fail + 1))
			continue
		fi
		logf=$out/$k-$s.log
		append="console=ttyS0 panic=-1 no_timer_check oops=panic quiet rkmod.tools=$tools rkmod.scenario=$s"
		# shellcheck disable=SC2206 # extra qemu arguments are meant to be split
		qemu=(qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nographic -no-reboot -nic none
			-kernel "$vmlinuz" -initrd "$initrd" ${RKMOD_VM_QEMU_ARGS:-})
		log "booting $k for $s (expects an oops from $module)"
		t1=$(date +%s.%N)
		"$here/watchdog.sh" "$stall_s" "$timeout_s" "$logf" "${qemu[@]}" -append "$append"
		qrc=$?
		secs=$(awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
		report "$k/$s" "$logf" "$qrc" "$secs" "$module"
	done
fi
trap - INT TERM

if ((${#failures[@]})); then
	echo "Failures:"
	printf '  %s\n' "${failures[@]}"
fi
((total_skip)) && echo "$total_skip skipped"
echo "$total_pass passed, $total_fail failed"
((total_fail == 0))
