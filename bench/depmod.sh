#!/usr/bin/env bash
# Benchmark our depmod against kmod 34.2 (Debian 13's, the oracle) and Debian 12's kmod 30 on
# the two Debian trees that tests/debian/fetch.sh provides (6.1: 4022 plain .ko; 6.12: 4229
# .ko.xz), and print a markdown table. Targets: at most 0.5x kmod 34.2's wall time on 6.1 and
# 0.6x on 6.12, peak RSS no higher than kmod's.
#
#   bench/depmod.sh
#
# Each tool indexes its own scratch copy of the tree (module files hard-linked, plus
# modules.order, modules.builtin and modules.builtin.modinfo) under target/bench-depmod, in
# place (-b ROOT VERSION), as package scripts run it: every index file written and renamed.
#
# Environment:
#   RKMOD_DEPMOD      our binary (default target/release/depmod, built if missing)
#   KMOD30_DEPMOD     Debian 12's depmod (default /sbin/depmod)
#   RKMOD_DEBIAN_DIR  the trees and kmod 34.2 (default target/debian)
#   BENCH_RUNS        timed runs per measurement (default 5; one warm-up run is added)
set -euo pipefail

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
debian=${RKMOD_DEBIAN_DIR:-$repo/target/debian}
ours=${RKMOD_DEPMOD:-$repo/target/release/depmod}
kmod30=${KMOD30_DEPMOD:-/sbin/depmod}
runs=${BENCH_RUNS:-5}
k34=$debian/kmod34

[[ -x $ours ]] || (cd "$repo" && cargo build --release --bin depmod >&2)
[[ -x $k34/usr/bin/kmod ]] || die "no kmod 34.2 in $k34 (run tests/debian/fetch.sh)"
command -v hyperfine >/dev/null || die "hyperfine is needed"

# kmod 34.2 through Debian 13's loader and libraries.
kmod34=("$k34/usr/lib64/ld-linux-x86-64.so.2" --library-path "$k34/usr/lib/x86_64-linux-gnu"
    --argv0 depmod "$k34/usr/bin/kmod")

work=$repo/target/bench-depmod
rm -rf "$work"
trap 'rm -rf "$work"' EXIT

copy() { # SRC ROOT VERSION
    local dst=$2/lib/modules/$3
    mkdir -p "$dst"
    cp -al "$1/kernel" "$dst/"
    cp "$1"/modules.{order,builtin,builtin.modinfo} "$dst/"
}

rss() { # prints GNU time's peak RSS in MiB for the command
    /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n1 | awk '{printf "%.1f", $1 / 1024}'
}

echo "| tree | rkmod depmod | kmod 34.2 | kmod 30 | ratio to 34.2 | peak RSS rkmod / 34.2 / 30 (MiB) |"
echo "|---|---|---|---|---|---|"
for tree in "6.1 6.1.0-50-amd64" "6.12 6.12.107+deb12-amd64"; do
    set -- $tree
    src=$debian/$1/lib/modules/$2
    [[ -d $src ]] || die "no tree $src"
    for who in ours k34 k30; do copy "$src" "$work/$1-$who" "$2"; done
    json=$work/$1.json
    log "timing the $1 tree ($runs runs each)"
    hyperfine -N --warmup 1 --runs "$runs" --export-json "$json" \
        -n ours "$ours -C /nonexistent -b $work/$1-ours $2" \
        -n k34 "${kmod34[*]} -C /nonexistent -b $work/$1-k34 $2" \
        -n k30 "$kmod30 -C /nonexistent -b $work/$1-k30 $2" >&2
    median() { jq -r ".results[] | select(.command == \"$1\") | .median" "$json"; }
    m_ours=$(median ours) m_34=$(median k34) m_30=$(median k30)
    r_ours=$(rss "$ours" -C /nonexistent -b "$work/$1-ours" "$2")
    r_34=$(rss "${kmod34[@]}" -C /nonexistent -b "$work/$1-k34" "$2")
    r_30=$(rss "$kmod30" -C /nonexistent -b "$work/$1-k30" "$2")
    printf '| %s | %.3f s | %.3f s | %.3f s | %.2fx | %s / %s / %s |\n' "$1" "$m_ours" "$m_34" \
        "$m_30" "$(echo "$m_ours / $m_34" | bc -l)" "$r_ours" "$r_34" "$r_30"
done
