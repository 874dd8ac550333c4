#!/usr/bin/env bash
# Benchmark our modinfo against Debian's kmod 30 on the two Debian module trees that
# tests/debian/fetch.sh provides (6.1: plain .ko; 6.12: .ko.xz), and print a markdown table.
#
#   bench/modinfo.sh
#
# Workloads, per tree:
#   * every module of the tree by path, in one process (parsing and decompression throughput);
#   * N processes with one module each, by path (start-up cost: what udev and scripts pay);
#   * N processes with one module each, by name with -b/-k (start-up plus index lookup).
#
# Environment:
#   RKMOD_MODINFO     our binary (default target/release/modinfo, built if missing)
#   KMOD_MODINFO      the reference (default /sbin/modinfo, Debian 12's kmod 30)
#   RKMOD_KMOD34      directory of kmod 34.2's tool wrappers, measured as a second reference
#                     (default target/debian/kmod34/bin when tests/debian/fetch.sh made it;
#                     "none" to leave it out). Its modinfo is a small sh wrapper exec'ing Debian
#                     13's loader, which adds about a millisecond of start-up per process.
#   RKMOD_DEBIAN_DIR  the trees (default target/debian; fetched if missing)
#   BENCH_RUNS        timed runs per measurement (default 5; one warm-up run is added)
#   BENCH_SINGLES     single-module processes per loop (default 200)
#   BENCH_HYPERFINE   0 to time with /usr/bin/time even when hyperfine is available
#
# Wall time is the median of the runs (hyperfine when installed, else repeated /usr/bin/time).
# Peak RSS comes from GNU time's %M, measured on the modinfo process itself so that the
# benchmark's own bash is not counted. It varies by a few pages between runs of the same binary,
# so "RSS ≤ kmod" allows 2%.
set -euo pipefail

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
debian=${RKMOD_DEBIAN_DIR:-$repo/target/debian}
kmod=${KMOD_MODINFO:-/sbin/modinfo}
ours=${RKMOD_MODINFO:-$repo/target/release/modinfo}
runs=${BENCH_RUNS:-5}
singles=${BENCH_SINGLES:-200}

# --- prerequisites -------------------------------------------------------------------------------
[[ -f $debian/stamp ]] || "$repo/tests/debian/fetch.sh" "$debian"

if [[ ! -x $ours ]]; then
    [[ -n ${RKMOD_MODINFO:-} ]] && die "RKMOD_MODINFO=$ours is not an executable"
    log "building $ours"
    (cd "$repo" && cargo build --release --bin modinfo)
fi
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

apt_install() {
    [[ $(id -u) -eq 0 ]] || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2; }
}
# GNU time, not the shell keyword: only it reports peak RSS.
[[ -x /usr/bin/time ]] || apt_install time || die "/usr/bin/time missing (apt-get install time)"
# hyperfine is optional: without it (or with BENCH_HYPERFINE=0) the median of repeated
# /usr/bin/time runs is used.
use_hyperfine=${BENCH_HYPERFINE:-1}
if [[ $use_hyperfine == 1 ]] && ! command -v hyperfine >/dev/null && ! apt_install hyperfine; then
    log "hyperfine unavailable; timing with /usr/bin/time"
    use_hyperfine=0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- measuring -----------------------------------------------------------------------------------
# Each workload is a small bash script taking the modinfo binary as $1, so both tools run the
# exact same thing. The argument lists live in files: 4000 paths exceed the 128 KiB limit on a
# single argv string that a hyperfine command line would need.

# measure SCRIPT TOOL: prints the median wall time and the CPU time (user + system) of
# `bash SCRIPT TOOL`, in seconds. CPU time shows whether a wall-time win comes from using more
# cores rather than from doing less work.
measure() {
    local script=$1 tool=$2
    if [[ $use_hyperfine == 1 ]]; then
        hyperfine -N --style basic --warmup 1 --runs "$runs" \
            --export-csv "$work/hf.csv" "bash $(printf %q "$script") $(printf %q "$tool")" >&2
        # columns: command,mean,stddev,median,user,system,min,max (user/system are means)
        awk -F, 'NR == 2 { print $4, $5 + $6 }' "$work/hf.csv"
    else
        local i
        bash "$script" "$tool" # warm-up: page cache, and the binary itself
        for ((i = 0; i < runs; i++)); do
            /usr/bin/time -f '%e %U %S' -o "$work/time" bash "$script" "$tool"
            cat "$work/time"
        done | sort -g | awk '{ w[NR] = $1; c[NR] = $2 + $3 } END { m = int((NR + 1) / 2); print w[m], c[m] }'
    fi
}

# peak_rss_kb ARGFILE TOOL PER_PROCESS [OPTIONS...]: the largest peak RSS, in KiB, of TOOL run
# with OPTIONS on the arguments in ARGFILE: all in one process when PER_PROCESS is "no", else one
# process per argument.
peak_rss_kb() {
    local argfile=$1 tool=$2 per_process=$3
    shift 3
    local args max=0 rss
    mapfile -t args <"$argfile"
    if [[ $per_process == no ]]; then
        /usr/bin/time -f %M -o "$work/rss" "$tool" "$@" "${args[@]}" >/dev/null
        max=$(<"$work/rss")
    else
        for a in "${args[@]}"; do
            /usr/bin/time -f %M -o "$work/rss" "$tool" "$@" "$a" >/dev/null
            rss=$(<"$work/rss")
            ((rss > max)) && max=$rss
        done
    fi
    echo "$max"
}

rows=()
# bench_row TREE WORKLOAD TARGET SCRIPT ARGFILE PER_PROCESS [OPTIONS...]
bench_row() {
    local tree=$1 what=$2 target=$3 script=$4 argfile=$5 per_process=$6
    shift 6
    log "$tree: $what"
    local tk to ck co rk ro t34=0 c34 r34=0
    read -r tk ck < <(measure "$script" "$kmod")
    read -r to co < <(measure "$script" "$ours")
    rk=$(peak_rss_kb "$argfile" "$kmod" "$per_process" "$@")
    ro=$(peak_rss_kb "$argfile" "$ours" "$per_process" "$@")
    if [[ -n $kmod34 ]]; then
        read -r t34 c34 < <(measure "$script" "$kmod34")
        r34=$(peak_rss_kb "$argfile" "$kmod34" "$per_process" "$@")
    fi
    rows+=("$(awk -v tree="$tree" -v what="$what" -v target="$target" \
        -v tk="$tk" -v to="$to" -v ck="$ck" -v co="$co" -v rk="$rk" -v ro="$ro" \
        -v t34="$t34" -v r34="$r34" 'BEGIN {
            ratio = to / tk
            time_ok = (ratio <= target) ? "yes" : "**NO**"
            rss_ok = (ro <= rk * 1.02) ? "yes" : "**NO**"
            printf "| %s | %s | %.3f s | %.3f s | %.2f× | ≤ %.1f× %s | %.2f s | %.2f s | %.1f MiB | %.1f MiB | %s |",
                tree, what, tk, to, ratio, target, time_ok, ck, co, rk / 1024, ro / 1024, rss_ok
            if (t34 > 0)
                printf " %.3f s | %.2f× | %.1f MiB |", t34, to / t34, r34 / 1024
            else
                printf " – | – | – |"
        }')")
}

# --- workloads -----------------------------------------------------------------------------------
for tree in 6.1 6.12; do
    root=$debian/$tree
    kver=$(ls "$root/lib/modules")
    moddir=$root/lib/modules/$kver
    find "$moddir" -type f \( -name '*.ko' -o -name '*.ko.xz' \) | sort >"$work/$tree.all"
    total=$(wc -l <"$work/$tree.all")
    # Evenly spaced over the sorted list, so the sample spans every subsystem's sizes.
    awk -v n="$total" -v k="$singles" 'BEGIN { step = int(n / k); if (step < 1) step = 1 }
        NR % step == 0 && c++ < k' "$work/$tree.all" >"$work/$tree.paths"
    sed -e 's|.*/||' -e 's|\..*||' -e 's|-|_|g' "$work/$tree.paths" >"$work/$tree.names"
    count=$(wc -l <"$work/$tree.paths")
    case $tree in 6.1) kind=".ko" whole_target=0.5 ;; *) kind=".ko.xz" whole_target=0.6 ;; esac

    cat >"$work/$tree.whole.sh" <<EOF
mapfile -t a <$(printf %q "$work/$tree.all")
exec "\$1" "\${a[@]}" >/dev/null
EOF
    cat >"$work/$tree.single-path.sh" <<EOF
mapfile -t a <$(printf %q "$work/$tree.paths")
for m in "\${a[@]}"; do "\$1" "\$m" >/dev/null; done
EOF
    cat >"$work/$tree.single-name.sh" <<EOF
mapfile -t a <$(printf %q "$work/$tree.names")
for m in "\${a[@]}"; do "\$1" -b $(printf %q "$root") -k $(printf %q "$kver") "\$m" >/dev/null; done
EOF

    bench_row "$tree ($kind)" "all $total modules, 1 process" "$whole_target" \
        "$work/$tree.whole.sh" "$work/$tree.all" no
    bench_row "$tree ($kind)" "$count × 1 module by path" 1.0 \
        "$work/$tree.single-path.sh" "$work/$tree.paths" yes
    bench_row "$tree ($kind)" "$count × 1 module by name (-b -k)" 1.0 \
        "$work/$tree.single-name.sh" "$work/$tree.names" yes -b "$root" -k "$kver"
done

# --- report --------------------------------------------------------------------------------------
echo
timer=$([[ $use_hyperfine == 1 ]] && echo hyperfine || echo /usr/bin/time)
echo "modinfo benchmark: ours = \`$ours\`, kmod = \`$kmod\` ($("$kmod" -V | head -n1)); median of $runs runs ($timer), $(nproc) CPUs"
echo "CPU = user + system time. RSS = peak of the modinfo process (largest over the single runs)."
echo
[[ -n $kmod34 ]] && echo "kmod 34.2 = \`$kmod34\` ($("$kmod34" -V | head -n1)): the targets and \"kmod\" columns are kmod 30's."
echo "| tree | workload | kmod wall | ours wall | ours/kmod | target | kmod CPU | ours CPU | kmod RSS | ours RSS | RSS ≤ kmod | kmod 34.2 wall | ours/34.2 | kmod 34.2 RSS |"
echo "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
