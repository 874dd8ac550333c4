#!/usr/bin/env bash
# Benchmark our modprobe against kmod 34.2 (Debian 13's, the oracle) and Debian 12's kmod 30 on
# the two Debian trees that tests/debian/fetch.sh provides, and print a markdown table. Targets
# (issue 12): at most kmod 34.2's time for each workload.
#
#   bench/modprobe.sh
#
# Workloads, per tree (-d TREE -S VERSION, configuration -C /dev/null so the host's modprobe.d
# does not count):
#   * `modprobe --show-depends NAME`, one process per module, for 50 modules: every 80th line
#     of the 6.1 tree's modules.order (the sample of the reference's §18), as initramfs builders
#     call it; a bash loop, so the 50 process start-ups are included;
#   * `modprobe -c` (the whole configuration and both alias indexes: about 2 MB of output), to
#     /dev/null.
# Both tools print the same bytes (tests/modprobe_conformance.rs checks it); the script checks
# it again for the sample before timing.
#
# Environment:
#   RKMOD_MODPROBE    our binary (default target/release/modprobe, built if missing)
#   KMOD30_MODPROBE   Debian 12's modprobe (default /sbin/modprobe; "none" to leave it out)
#   RKMOD_DEBIAN_DIR  the trees and kmod 34.2 (default target/debian)
#   BENCH_RUNS        timed runs per measurement (default 10; warm-up runs are added)
set -euo pipefail

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
debian=${RKMOD_DEBIAN_DIR:-$repo/target/debian}
ours=${RKMOD_MODPROBE:-$repo/target/release/modprobe}
kmod30=${KMOD30_MODPROBE:-/sbin/modprobe}
runs=${BENCH_RUNS:-10}
k34=$debian/kmod34

[[ -x $ours ]] || (cd "$repo" && cargo build --release --bin modprobe >&2)
[[ -x $k34/usr/bin/kmod ]] || die "no kmod 34.2 in $k34 (run tests/debian/fetch.sh)"
command -v hyperfine >/dev/null || die "hyperfine is needed"
command -v jq >/dev/null || die "jq is needed"
[[ $kmod30 == none || -x $kmod30 ]] || die "$kmod30 not found (KMOD30_MODPROBE=none to skip)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# kmod 34.2 through Debian 13's loader and libraries, as one executable script (hyperfine and
# the loops run it as a program).
cat >"$work/kmod34" <<EOF
#!/bin/sh
exec "$k34/usr/lib64/ld-linux-x86-64.so.2" --library-path "$k34/usr/lib/x86_64-linux-gnu" \\
    --argv0 modprobe "$k34/usr/bin/kmod" "\$@"
EOF
chmod +x "$work/kmod34"

# The 50-module sample: every 80th module of the 6.1 tree, by name.
sample=$(sed -n '1~80p' "$debian/6.1/lib/modules/6.1.0-50-amd64/modules.order" |
    sed 's|.*/||; s|\.ko.*||' | head -n 50)

# A loop running PROGRAM --show-depends once per sample module: $1 program, $2 root, $3 version.
cat >"$work/loop" <<EOF
#!/bin/bash
for m in $(echo $sample); do
    "\$1" -C /dev/null -d "\$2" -S "\$3" --show-depends "\$m" >/dev/null
done
EOF
chmod +x "$work/loop"

tools=(ours "$ours" k34 "$work/kmod34")
[[ $kmod30 == none ]] || tools+=(k30 "$kmod30")

median() { jq -r ".results[] | select(.command == \"$2\") | .median * 1000" "$1"; }

echo "| tree | workload | rkmod | kmod 34.2 | kmod 30 | ratio to 34.2 |"
echo "|---|---|---|---|---|---|"
for tree in "6.1 6.1.0-50-amd64" "6.12 6.12.107+deb12-amd64"; do
    set -- $tree
    root=$debian/$1
    [[ -d $root/lib/modules/$2 ]] || die "no tree $root/lib/modules/$2"
    # Same output, or the timing means nothing.
    for m in $sample; do
        a=$("$ours" -C /dev/null -d "$root" -S "$2" --show-depends "$m" 2>&1 || true)
        b=$("$work/kmod34" -C /dev/null -d "$root" -S "$2" --show-depends "$m" 2>&1 || true)
        [[ $a == "$b" ]] || die "--show-depends $m differs from kmod 34.2 on the $1 tree"
    done
    cmp -s <("$ours" -C /dev/null -d "$root" -S "$2" -c) \
        <("$work/kmod34" -C /dev/null -d "$root" -S "$2" -c) ||
        die "-c differs from kmod 34.2 on the $1 tree"

    log "timing 50 x --show-depends on the $1 tree ($runs runs each)"
    args=()
    for ((i = 0; i < ${#tools[@]}; i += 2)); do
        args+=(-n "${tools[i]}" "$work/loop ${tools[i + 1]} $root $2")
    done
    hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/d.json" "${args[@]}" >&2
    log "timing -c on the $1 tree ($((runs * 3)) runs each)"
    args=()
    for ((i = 0; i < ${#tools[@]}; i += 2)); do
        args+=(-n "${tools[i]}" "${tools[i + 1]} -C /dev/null -d $root -S $2 -c")
    done
    hyperfine -N --warmup 3 --runs "$((runs * 3))" --output null --export-json "$work/c.json" \
        "${args[@]}" >&2
    for w in "d:50 x --show-depends" "c:-c"; do
        j=$work/${w%%:*}.json
        m_ours=$(median "$j" ours) m_34=$(median "$j" k34)
        m_30=n/a
        [[ $kmod30 == none ]] || m_30=$(printf '%.1f ms' "$(median "$j" k30)")
        printf '| %s | %s | %.1f ms | %.1f ms | %s | %.2fx |\n' "$1" "${w#*:}" "$m_ours" "$m_34" \
            "$m_30" "$(echo "$m_ours / $m_34" | bc -l)"
    done
done
