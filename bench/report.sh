#!/usr/bin/env bash
# Every comparison with kmod in one run, written to docs/benchmarks.md (and printed):
#
#   1. modinfo: whole trees (plain 6.1, .ko.xz 6.12) in one process, and one module per process
#      by path and by name (bench/modinfo.sh);
#   2. modaudit over whole trees, against kmod's modinfo over the same files (bench/modaudit.sh),
#      depmod over whole trees, against kmod 34.2 and kmod 30 (bench/depmod.sh), and modprobe
#      (50 x --show-depends, one process each, and -c) against the same two (bench/modprobe.sh);
#   3. instruction counts (valgrind --tool=callgrind) for the same kinds of work, where wall time
#      is too noisy to trust: one module per process, and 200 modules in one process;
#   4. in the VM (tests/vm/run.sh with RKMOD_VM_BENCH=1): lsmod with ~50 modules loaded, and
#      insmod of .ko, .ko.xz and .ko.zst on 6.1 and of Debian's .ko.xz on 6.12 (in-kernel
#      decompression for ours).
#
#   bench/report.sh [--quick] [--only host|ir|vm]...
#     --quick   BENCH_RUNS=3 and 100 single-module processes
#     --only    just these parts (1+2 are "host", 3 "ir", 4 "vm"); the others say "not run"
#
# Ratios are ours / kmod's, measured in this run, so below 1 means rkmod is faster (or smaller).
# Environment: as bench/modinfo.sh, bench/modaudit.sh and tests/vm/run.sh; RKMOD_BIN_DIR (our
# binaries, default target/static, made by `make build` if missing), BENCH_OUT (the report file,
# default docs/benchmarks.md).
set -euo pipefail

log() { printf 'report: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
debian=${RKMOD_DEBIAN_DIR:-$repo/target/debian}
bin=${RKMOD_BIN_DIR:-$repo/target/static}
out=${BENCH_OUT:-$repo/docs/benchmarks.md}
kmod_modinfo=${KMOD_MODINFO:-/sbin/modinfo}
only=()
while (($#)); do
	case $1 in
	--quick) export BENCH_RUNS=${BENCH_RUNS:-3} BENCH_SINGLES=${BENCH_SINGLES:-100}; shift ;;
	--only) [[ ${2:-} =~ ^(host|ir|vm)$ ]] || die "--only takes host, ir or vm"; only+=("$2"); shift 2 ;;
	*) die "unknown argument: $1 (see the top of $0)" ;;
	esac
done
((${#only[@]})) || only=(host ir vm)
# part NAME: whether this run does that part.
part() { [[ " ${only[*]} " == *" $1 "* ]]; }

if [[ ! -x $bin/modinfo || ! -x $bin/modaudit ]]; then
	[[ -n ${RKMOD_BIN_DIR:-} ]] && die "no modinfo/modaudit in RKMOD_BIN_DIR=$bin"
	log "building static binaries (make build)"
	make -C "$repo" build >&2
fi
[[ -f $debian/stamp ]] || "$repo/tests/debian/fetch.sh" "$debian" >&2
command -v valgrind >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind >&2 ||
	die "valgrind missing (apt-get install valgrind)"
[[ -x $kmod_modinfo ]] || die "$kmod_modinfo not found (apt-get install kmod)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RKMOD_MODINFO=$bin/modinfo RKMOD_MODAUDIT=$bin/modaudit RKMOD_BIN_DIR=$bin

# --- 1, 2: wall time and peak RSS on the host -----------------------------------------------------
echo "(not run)" >"$work/modinfo.md"
echo "(not run)" >"$work/modaudit.md"
echo "(not run)" >"$work/depmod.md"
echo "(not run)" >"$work/modprobe.md"
if part host; then
	log "modinfo (bench/modinfo.sh)"
	"$repo/bench/modinfo.sh" >"$work/modinfo.md"
	log "modaudit (bench/modaudit.sh)"
	"$repo/bench/modaudit.sh" >"$work/modaudit.md"
	log "depmod (bench/depmod.sh)"
	RKMOD_DEPMOD=$bin/depmod "$repo/bench/depmod.sh" >"$work/depmod.md"
	log "modprobe (bench/modprobe.sh)"
	RKMOD_MODPROBE=$bin/modprobe "$repo/bench/modprobe.sh" >"$work/modprobe.md"
fi

# --- 3: instruction counts -------------------------------------------------------------------------
# ir TOOL ARGS...: instructions executed by TOOL (all its threads), from callgrind's summary.
ir() {
	valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" >/dev/null 2>"$work/vg" || true
	sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/vg" | tail -n 1
}
ir_rows=()
# ir_row WORKLOAD OURS_CMD... -- KMOD_CMD...
ir_row() {
	local what=$1 ours=() kmod=() o k
	shift
	while [[ $1 != -- ]]; do ours+=("$1"); shift; done
	shift
	kmod=("$@")
	log "instructions: $what"
	k=$(ir "${kmod[@]}")
	o=$(ir "${ours[@]}")
	[[ -n $k && -n $o ]] || die "callgrind gave no count for: $what"
	ir_rows+=("$(awk -v w="$what" -v k="$k" -v o="$o" 'BEGIN {
		printf "| %s | %.1f M | %.1f M | %.2f× |", w, k / 1e6, o / 1e6, o / k }')")
}
part ir && for tree in 6.1 6.12; do
	root=$debian/$tree
	kver=$(ls "$root/lib/modules")
	find "$root/lib/modules/$kver" -type f \( -name '*.ko' -o -name '*.ko.xz' \) | sort >"$work/all"
	n=$(wc -l <"$work/all")
	awk -v n="$n" 'BEGIN { step = int(n / 200) } NR % step == 0 && c++ < 200' "$work/all" >"$work/200"
	mapfile -t some <"$work/200"
	one=$(grep -m1 '/bonding\.ko' "$work/all")
	kind=$([[ $tree == 6.1 ]] && echo .ko || echo .ko.xz)
	ir_row "modinfo, 1 module by path ($tree, bonding$kind)" "$bin/modinfo" "$one" -- "$kmod_modinfo" "$one"
	ir_row "modinfo, 1 module by name -b -k ($tree)" "$bin/modinfo" -b "$root" -k "$kver" bonding -- \
		"$kmod_modinfo" -b "$root" -k "$kver" bonding
	ir_row "modinfo, 200 modules in 1 process ($tree, $kind)" "$bin/modinfo" "${some[@]}" -- \
		"$kmod_modinfo" "${some[@]}"
	ir_row "modaudit vs kmod modinfo, 200 modules ($tree, $kind)" "$bin/modaudit" "${some[@]}" -- \
		"$kmod_modinfo" "${some[@]}"
done

# --- 4: in the VM -----------------------------------------------------------------------------------
vm_rows=()
part vm && {
log "VM: lsmod, insmod and modprobe (tests/vm/run.sh, both kernels)"
RKMOD_VM_BENCH=1 "$repo/tests/vm/run.sh" --tools rk --scenario rk-lsmod,rk-bench-insmod,rk-bench-modprobe >"$work/vm.out" ||
	{ cat "$work/vm.out" >&2; die "the VM benchmark run failed"; }
for k in 6.1 6.12; do
	while IFS='|' read -r what km rm kr rr; do
		vm_rows+=("$(awk -v k="$k" -v w="$what" -v km="$km" -v rm="$rm" -v kr="$kr" -v rr="$rr" 'BEGIN {
			printf "| %s | %s | %d ms | %d ms | %.2f× | %.1f MiB | %.1f MiB | %.2f× |",
				k, w, km, rm, rm / km, kr / 1024, rr / 1024, rr / kr }')")
	done < <(tr -d '\r' <"$repo/target/vm/$k.log" | sed -n 's/^RKMOD-LOG [^:]*: BENCH //p')
done
((${#vm_rows[@]})) || die "no BENCH lines from the VM (see target/vm/*.log)"
}
((${#ir_rows[@]})) || ir_rows=("| (not run) | | | |")
((${#vm_rows[@]})) || vm_rows=("| (not run) | | | | | | | |")

# --- report -------------------------------------------------------------------------------------------
{
	echo "# rkmod benchmarks"
	echo
	echo "Written by \`bench/report.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), rkmod $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?'),"
	echo "against $("$kmod_modinfo" -V | head -n 1) (Debian). Host: $(nproc) CPUs,"
	echo "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1). Every ratio is ours / kmod's,"
	echo "both measured in this run: below 1.00× rkmod is faster or smaller."
	echo
	echo "## modinfo (wall time and peak RSS)"
	echo
	cat "$work/modinfo.md"
	echo
	echo "## modaudit over whole trees"
	echo
	echo "kmod has no audit tool; its modinfo over the same files is the yardstick."
	echo
	cat "$work/modaudit.md"
	echo
	echo "## depmod over whole trees"
	echo
	echo "Each tool indexes its own scratch copy of the tree in place; kmod 34.2 is the oracle."
	echo
	cat "$work/depmod.md"
	echo
	echo "## modprobe queries"
	echo
	echo "One process per module for --show-depends (as initramfs builders call it), the whole"
	echo "configuration and alias dump for -c; the outputs are checked equal to kmod 34.2's first."
	echo
	cat "$work/modprobe.md"
	echo
	echo "## Instruction counts (valgrind --tool=callgrind)"
	echo
	echo "Wall time on a shared 2-CPU machine moves by several percent between runs; the number of"
	echo "instructions a tool executes does not. Counts include start-up and every thread."
	echo "The 200 modules are evenly spaced over each sorted tree."
	echo
	echo "| workload | kmod | rkmod | rkmod/kmod |"
	echo "|---|---:|---:|---:|"
	printf '%s\n' "${ir_rows[@]}"
	echo
	echo "## In the VM: lsmod, insmod and modprobe"
	echo
	echo "qemu TCG (no KVM), Debian kernels, BusyBox userland; both tools take turns in blocks, and"
	echo "/proc/uptime times each block (10 ms resolution). insmod rounds include the same kmod"
	echo "rmmod for both tools. On 6.12 our insmod passes .ko.xz to the kernel to decompress"
	echo "(finit_module with MODULE_INIT_COMPRESSED_FILE); kmod 30 decompresses it in user space."
	echo "modprobe rounds insert bridge with stp and llc, then remove all three (timed apart): -r"
	echo "bridge, plus kmod's rmmod of what kmod 30's -r leaves loaded (llc), within the removal time."
	echo
	echo "| kernel | workload | kmod | rkmod | rkmod/kmod | kmod RSS | rkmod RSS | RSS ratio |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${vm_rows[@]}"
} >"$work/report.md"
mkdir -p "$(dirname "$out")"
cp "$work/report.md" "$out"
cat "$out"
log "wrote $out"
