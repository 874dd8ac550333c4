#!/usr/bin/env bash
# Benchmark modaudit against Debian kmod's modinfo over the same module files: the two Debian
# trees that tests/debian/fetch.sh provides (6.1: plain .ko; 6.12: .ko.xz), and print a markdown
# table. kmod has no audit tool; modinfo is the nearest thing that opens, decompresses and parses
# every module, so "no slower than modinfo" is the target (ratio ≤ 1.0×).
#
#   bench/modaudit.sh
#
# Workloads, each one process:
#   * both trees together, as file arguments (the headline: ≤ 1.0×);
#   * each tree alone, as file arguments;
#   * both trees as two directory arguments (modaudit walks them; modinfo still gets the files).
#
# Environment:
#   RKMOD_MODAUDIT    our binary (default target/release/modaudit, built if missing)
#   KMOD_MODINFO      the reference (default /sbin/modinfo, Debian 12's kmod 30)
#   RKMOD_KMOD34      directory of kmod 34.2's tool wrappers, whose modinfo is measured as a
#                     second reference (default target/debian/kmod34/bin when
#                     tests/debian/fetch.sh made it; "none" to leave it out)
#   RKMOD_DEBIAN_DIR  the trees (default target/debian; fetched if missing)
#   BENCH_RUNS        timed runs per measurement (default 5; one warm-up run is added)
#   BENCH_HYPERFINE   0 to time with /usr/bin/time even when hyperfine is available
#
# Wall time is the median of the runs (hyperfine when installed, else repeated /usr/bin/time);
# CPU is user + system time. Peak RSS is GNU time's %M for the tool's own process.
set -euo pipefail

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
debian=${RKMOD_DEBIAN_DIR:-$repo/target/debian}
kmod=${KMOD_MODINFO:-/sbin/modinfo}
ours=${RKMOD_MODAUDIT:-$repo/target/release/modaudit}
runs=${BENCH_RUNS:-5}

# --- prerequisites -------------------------------------------------------------------------------
[[ -f $debian/stamp ]] || "$repo/tests/debian/fetch.sh" "$debian"
if [[ -z ${RKMOD_MODAUDIT:-} ]]; then
    # Always rebuild: a stale release binary would measure old code.
    log "building $ours"
    (cd "$repo" && cargo build --release --bin modaudit >&2)
fi
[[ -x $ours ]] || die "$ours is not an executable"
[[ -x $kmod ]] || die "$kmod not found (apt-get install kmod)"
kmod34_dir=${RKMOD_KMOD34:-$debian/kmod34/bin}
kmod34=
if [[ $kmod34_dir != none ]]; then
    if [[ -x $kmod34_dir/modinfo ]]; then
        kmod34=$kmod34_dir/modinfo
    elif [[ -n ${RKMOD_KMOD34:-} ]]; then
        die "RKMOD_KMOD34=$kmod34_dir has no modinfo (run tests/debian/fetch.sh)"
    else
        log "no kmod 34.2 in $kmod34_dir (tests/debian/fetch.sh makes it); measuring kmod 30 only"
    fi
fi
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing (apt-get install time): it measures peak RSS"
use_hyperfine=${BENCH_HYPERFINE:-1}
if [[ $use_hyperfine == 1 ]] && ! command -v hyperfine >/dev/null; then
    log "hyperfine not installed; timing with /usr/bin/time"
    use_hyperfine=0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- inputs --------------------------------------------------------------------------------------
dirs=()
for tree in 6.1 6.12; do
    root=$debian/$tree/lib/modules
    kver=$(ls "$root")
    dirs+=("$root/$kver")
    find "$root/$kver" -type f \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) |
        sort >"$work/$tree.files"
done
cat "$work/6.1.files" "$work/6.12.files" >"$work/both.files"
printf '%s\n' "${dirs[@]}" >"$work/both.dirs"

# A workload is a bash script taking the tool as $1, so both tools run the same thing; argument
# lists live in files (8000 paths would not fit on a hyperfine command line).
# script NAME LISTFILE: runs the tool on the paths in LISTFILE, output discarded.
script() {
    cat >"$work/$1.sh" <<EOF
mapfile -t a <$(printf %q "$2")
exec "\$1" "\${a[@]}" >/dev/null
EOF
}
script both "$work/both.files"
script t61 "$work/6.1.files"
script t612 "$work/6.12.files"
script dirs "$work/both.dirs"

# measure SCRIPT TOOL: median wall time and mean CPU time (user + system), in seconds.
measure() {
    local script=$1 tool=$2
    if [[ $use_hyperfine == 1 ]]; then
        hyperfine -N --style basic --warmup 1 --runs "$runs" \
            --export-csv "$work/hf.csv" "bash $(printf %q "$script") $(printf %q "$tool")" >&2
        # columns: command,mean,stddev,median,user,system,min,max
        awk -F, 'NR == 2 { print $4, $5 + $6 }' "$work/hf.csv"
    else
        local i
        bash "$script" "$tool"
        for ((i = 0; i < runs; i++)); do
            /usr/bin/time -f '%e %U %S' -o "$work/time" bash "$script" "$tool"
            cat "$work/time"
        done | sort -g | awk '{ w[NR] = $1; c[NR] = $2 + $3 } END { m = int((NR + 1) / 2); print w[m], c[m] }'
    fi
}

# peak_rss_kb LISTFILE TOOL: peak RSS in KiB of TOOL run once on the paths in LISTFILE.
peak_rss_kb() {
    local args
    mapfile -t args <"$1"
    /usr/bin/time -f %M -o "$work/rss" "$2" "${args[@]}" >/dev/null || true
    tail -n 1 "$work/rss"
}

rows=()
# bench_row WHAT TARGET KMOD_SCRIPT KMOD_LIST OURS_SCRIPT OURS_LIST
bench_row() {
    local what=$1 target=$2
    log "$what"
    local tk ck to co rk ro t34=0 c34 r34=0
    read -r tk ck < <(measure "$work/$3.sh" "$kmod")
    read -r to co < <(measure "$work/$5.sh" "$ours")
    rk=$(peak_rss_kb "$4" "$kmod")
    ro=$(peak_rss_kb "$6" "$ours")
    if [[ -n $kmod34 ]]; then
        read -r t34 c34 < <(measure "$work/$3.sh" "$kmod34")
        r34=$(peak_rss_kb "$4" "$kmod34")
    fi
    rows+=("$(awk -v what="$what" -v target="$target" -v tk="$tk" -v to="$to" -v ck="$ck" \
        -v co="$co" -v rk="$rk" -v ro="$ro" -v t34="$t34" -v r34="$r34" 'BEGIN {
            ratio = to / tk
            ok = (ratio <= target) ? "yes" : "**NO**"
            printf "| %s | %.3f s | %.3f s | %.2f× | ≤ %.1f× %s | %.2f s | %.2f s | %.1f MiB | %.1f MiB |",
                what, tk, to, ratio, target, ok, ck, co, rk / 1024, ro / 1024
            if (t34 > 0)
                printf " %.3f s | %.2f× | %.1f MiB |", t34, to / t34, r34 / 1024
            else
                printf " – | – | – |"
        }')")
}

n61=$(wc -l <"$work/6.1.files")
n612=$(wc -l <"$work/6.12.files")
bench_row "both trees, $((n61 + n612)) files, 1 process" 1.0 both "$work/both.files" both "$work/both.files"
bench_row "6.1 (.ko), $n61 files" 1.0 t61 "$work/6.1.files" t61 "$work/6.1.files"
bench_row "6.12 (.ko.xz), $n612 files" 1.0 t612 "$work/6.12.files" t612 "$work/6.12.files"
bench_row "both trees as 2 directory arguments (modinfo: the files)" 1.0 both "$work/both.files" dirs "$work/both.dirs"

# --- report --------------------------------------------------------------------------------------
echo
timer=$([[ $use_hyperfine == 1 ]] && echo hyperfine || echo /usr/bin/time)
echo "modaudit benchmark: ours = \`$ours\`, reference = \`$kmod\` ($("$kmod" -V | head -n1)); median of $runs runs ($timer), $(nproc) CPUs"
echo "CPU = user + system time (modaudit uses every CPU; kmod one). RSS = peak of the tool's process."
echo
[[ -n $kmod34 ]] && echo "kmod 34.2 modinfo = \`$kmod34\` ($("$kmod34" -V | head -n1)): the targets and \"modinfo\" columns are kmod 30's."
echo "| workload | kmod modinfo wall | modaudit wall | modaudit/modinfo | target | modinfo CPU | modaudit CPU | modinfo RSS | modaudit RSS | 34.2 modinfo wall | modaudit/34.2 | 34.2 modinfo RSS |"
echo "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
