#!/usr/bin/env bash
# Runs the fuzz targets, each for a given time, with corpora seeded from the committed minimized
# corpus (tests/fuzz_corpus/TARGET), our fixtures and the Debian module trees; prints executions
# and findings per target.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      default: 600 s, every target
#   FUZZ_RUNS=10000000 fuzz/run.sh 7200 index          stop after that many executions
#   fuzz/run.sh --totals                               sums per target
#   fuzz/run.sh --cmin [TARGET...]                     minimize into tests/fuzz_corpus/TARGET
#                                                      (at most FUZZ_CORPUS_KIB, default 256)
#
# Each run appends one row to fuzz/totals.tsv (target, executions, seconds, findings, date,
# sanitizer, stats file) and keeps libFuzzer's final statistics (the `Done N runs in S second(s)`
# and `stat::` lines) in fuzz/stats/STAMP-TARGET.txt. This script is the only writer of both;
# notes by hand go in fuzz/NOTES.md. A long campaign can be split into several runs.
#
# Needs the nightly toolchain and cargo-fuzz (installed if missing). A crash or hang leaves its
# input in fuzz/artifacts/TARGET/; copy it to tests/fuzz_regressions/TARGET/ with a name saying
# what it found, and the regression test (tests/it/fuzz_regressions.rs) replays it forever after
# through the same rkmod::fuzz entry function.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${1:-600}
shift || true
targets=("$@")
all=(module_file proc_modules index text_files signature force_strip loaded tool_output modprobe_config)
((${#targets[@]})) || targets=("${all[@]}")
debian=${RKMOD_DEBIAN_DIR:-$repo/target/debian}
# No AddressSanitizer by default: the parsers have no unsafe code and the C decompressors are not
# instrumented anyway, and without it the targets run 4-20x faster. FUZZ_SANITIZER=address for ASan.
sanitizer=${FUZZ_SANITIZER:-none}
# loaded and tool_output write each input as files (a fake /proc and /sys, a .ko) in a fresh
# temporary directory: in memory, they run several times faster.
if [[ -z ${TMPDIR:-} && -d /dev/shm && -w /dev/shm ]]; then export TMPDIR=/dev/shm; fi

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || { echo "fuzz/run.sh: needs the nightly toolchain" >&2; exit 1; }

seed() { # TARGET: fill fuzz/corpus/TARGET once
	local t=$1 c=$here/corpus/$1
	[[ -d $c ]] && return
	mkdir -p "$c"
	if [[ -d $repo/tests/fuzz_corpus/$t ]]; then cp "$repo/tests/fuzz_corpus/$t"/* "$c"/ 2>/dev/null || true; fi
	case $t in
	module_file)
		cp "$repo"/tests/fixtures/rk_*.ko* "$repo"/tests/fixtures/bad/*.ko* "$c"/ 2>/dev/null || true
		rm -f "$c"/bomb.* # seeds must be quick to run
		if [[ -d $debian/6.1 ]]; then
			# (head closes the pipe early: not an error)
			{ find "$debian/6.1/lib/modules" -name '*.ko' -size -40k | head -n 300 | xargs -r cp -t "$c"; } || true
			{ find "$debian/6.12/lib/modules" -name '*.ko.xz' -size -12k | head -n 100 | xargs -r cp -t "$c"; } || true
		fi ;;
	proc_modules)
		printf 'snd_timer 28690 2 snd_seq,snd_pcm, Live 0x0000000000000000\nvrf 36864 0 [permanent], Live 0xffffffffc0a30000\n' >"$c/a"
		printf 'nvidia 56713216 123 nvidia_modeset, Live 0x0 (POE)\ngoing 100 -1 - Unloading 0x0 (OE-)\nx 1 - - Live 0x0\n' >"$c/b"
		printf 'live\n' >"$c/c"; printf 'coming\n' >"$c/d" ;;
	index)
		# Small, complete indexes first: depmod over our fixtures.
		if command -v depmod >/dev/null; then
			local tmp k=0.0.0-fuzz
			tmp=$(mktemp -d)
			mkdir -p "$tmp/lib/modules/$k/extra"
			cp "$repo"/tests/fixtures/rk_*.ko "$tmp/lib/modules/$k/extra/"
			depmod -b "$tmp" "$k" 2>/dev/null || true
			for f in "$tmp/lib/modules/$k"/modules.*.bin; do
				if [[ -f $f ]]; then { printf '\x06rk_bas'; cat "$f"; } >"$c/small.$(basename "$f")"; fi
			done
			rm -rf "$tmp"
		fi
		if [[ -d $debian/6.1 ]]; then
			for f in "$debian"/6.1/lib/modules/*/modules.{dep,alias,symbols,builtin,builtin.alias}.bin; do
				if [[ -f $f ]]; then { printf '\x05e1000'; cat "$f"; } >"$c/$(basename "$f")"; fi
			done
		fi ;;
	text_files)
		if [[ -d $debian/6.1 ]]; then
			head -c 65536 "$debian"/6.1/lib/modules/*/modules.dep >"$c/dep"
			head -c 65536 "$debian"/6.1/lib/modules/*/modules.builtin.modinfo >"$c/builtin"
		fi
		printf 'pci:v00008086d*sv*sd*bc*sc*i*\npci:v00008086d000010D3sv0sd0bc02sc00i00' >"$c/glob" ;;
	force_strip)
		# Modules with __versions and vermagic: ours, and Debian's.
		cp "$repo"/tests/fixtures/rk_*.ko* "$c"/
		if [[ -d $debian/6.1 ]]; then
			{ find "$debian/6.1/lib/modules" -name '*.ko' -size -24k | head -n 100 | xargs -r cp -t "$c"; } || true
		fi ;;
	tool_output)
		cp "$repo"/tests/fixtures/rk_*.ko* "$c"/
		if [[ -d $debian/6.1 ]]; then
			{ find "$debian/6.1/lib/modules" -name '*.ko' -size -12k | head -n 50 | xargs -r cp -t "$c"; } || true
		fi ;;
	loaded)
		# /proc/modules, then per module: coresize, refcnt, taint, initstate, holders (NUL between).
		printf 'snd_timer 28690 2 snd_seq,snd_pcm, Live 0x0000000000000000\nvrf 36864 0 [permanent], Live 0xffffffffc0a30000\n\0%s\0%s\0\0live\n\0snd_seq\nsnd_pcm\0%s\0%s\0OE\n\0going\n\0' 32768 2 36864 0 >"$c/a"
		printf 'nvidia 56713216 123 nvidia_modeset, Live 0x0 (POE)\ngoing 100 -1 - Unloading 0x0 (OE-)\n\0' >"$c/vanished"
		printf 'x 1 - - Live 0x0\n\0\0\0\0\0' >"$c/builtin"
		printf 'c 4096 0 - Loading 0x0\n\0notanumber\0-1\0\0coming\n\0' >"$c/coming" ;;
	modprobe_config)
		# modprobe.d lines of every kind, then after a NUL a kernel command line.
		printf 'alias my-d d\noptions d a=1\t"b c"\ninstall d echo $CMDLINE_OPTS\nremove d x\nblacklist e-f\nsoftdep d pre: a  post: b\nweakdep d  x y\n# c\n  #x\nbad\noptions x-[a-b] \\\n  y\n\0root=/dev/sda d.p=1 "d.q=a b" modprobe.blacklist=a,b-c .x=1 a.b.c=1 -- init.x=1\n' >"$c/all"
		if [[ -d $debian/6.1 ]]; then cp "$debian"/6.1/lib/modules/*/modules.softdep "$c/softdep"; fi ;;
	index_writer)
		# KEY VALUE lines, as depmod indexes them: aliases and symbols of real modules.
		printf 'rk_basic extra/rk_basic.ko\nrk-basic-alias rk_basic\npci:v00008086d*sv*sd*bc*sc*i* e1000e\n' >"$c/small"
		if [[ -d $debian/6.1 ]]; then
			# (head closes the pipe early: not an error)
			{ sed -n 's/^alias //p' "$debian"/6.1/lib/modules/*/modules.alias | head -c 4096 >"$c/alias"; } || true
			{ sed -n 's/^alias //p' "$debian"/6.1/lib/modules/*/modules.symbols | head -c 4096 >"$c/symbols"; } || true
		fi ;;
	signature)
		for f in "$repo"/tests/fixtures/rk_basic_signed.ko "$repo"/tests/fixtures/bad/garbage_sig.ko; do
			tail -c 2048 "$f" >"$c/$(basename "$f")"
		done ;;
	esac
}

totals=$here/totals.tsv
if [[ $secs == --totals ]]; then
	printf '%-14s %12s %8s %s\n' target executions seconds findings
	awk -F'\t' '!/^#/ {e[$1]+=$2; s[$1]+=$3; f[$1]+=$4} END {for (t in e) printf "%-14s %12d %8d %d\n", t, e[t], s[t], f[t]}' "$totals" | sort
	exit
fi

cmin() { # TARGET: minimize fuzz/corpus/TARGET and tests/fuzz_corpus/TARGET into the latter
	local t=$1 keep=$repo/tests/fuzz_corpus/$1 all
	seed "$t"
	mkdir -p "$here/corpus"
	all=$(mktemp -d "$here/corpus/.cmin-$t.XXXXXX") # beside the corpora: cmin renames directories
	cp "$here/corpus/$t"/* "$all"/ 2>/dev/null || true
	if [[ -d $keep ]]; then cp "$keep"/* "$all"/ 2>/dev/null || true; fi
	cargo +nightly fuzz cmin -s "$sanitizer" "$t" "$all" -- -max_len="$(max_len "$t")" \
		-rss_limit_mb=2048 -timeout=10 >"$here/$t.cmin.log" 2>&1 ||
		{ echo "fuzz/run.sh: cmin $t failed; see fuzz/$t.cmin.log" >&2; exit 1; }
	# The committed corpus must stay small (the replay runs it in the dev profile on every
	# `cargo test`): past the budget, the largest inputs go first.
	local budget=$((${FUZZ_CORPUS_KIB:-256} * 1024)) dropped=0 size f
	size=$(find "$all" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
	while ((size > budget)); do
		f=$(find "$all" -type f -printf '%s %p\n' | sort -n | tail -n 1)
		size=$((size - ${f%% *}))
		rm -f "${f#* }"
		dropped=$((dropped + 1))
	done
	rm -rf "$keep"
	mkdir -p "$keep"
	cp "$all"/* "$keep"/
	rm -rf "$all"
	printf '%-14s %5d files %8s KiB; %d largest dropped for the %s KiB budget\n' "$t" \
		"$(find "$keep" -type f | wc -l)" "$(du -sk --apparent-size "$keep" | cut -f1)" "$dropped" "${FUZZ_CORPUS_KIB:-256}"
}

# Inputs big enough for each format, small enough to stay fast.
# (A wildcard search runs fnmatch on every stored pattern, so an index's cost grows with the
# square of its size: 1 KiB runs at ~13000/s, 4 KiB at ~1000/s. The complete indexes depmod
# makes over our fixtures are under 1 KiB.)
max_len() {
	case $1 in module_file | force_strip) echo 262144 ;; tool_output) echo 65536 ;; index) echo 1024 ;; *) echo 4096 ;; esac
}

cd "$here"
if [[ $secs == --cmin ]]; then
	for t in "${targets[@]}"; do cmin "$t"; done
	exit
fi

printf '%-14s %12s %10s %s\n' target executions exec/s findings
mkdir -p "$here/stats"
for t in "${targets[@]}"; do
	seed "$t"
	log=$here/$t${FUZZ_JOB:+.$FUZZ_JOB}.log # FUZZ_JOB=N: a second run of a target beside the first
	mark=$(mktemp)
	# -rss_limit_mb: a decompression bomb is refused at 256 MiB, so 2 GiB means a leak.
	limit=(-max_total_time="$secs")
	[[ -n ${FUZZ_RUNS:-} ]] && limit+=(-runs="$FUZZ_RUNS")
	cargo +nightly fuzz run -s "$sanitizer" "$t" "corpus/$t" -- "${limit[@]}" -max_len="$(max_len "$t")" \
		-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || true
	# libFuzzer's final statistics, kept as it printed them. After a crash there is no `Done` line:
	# the last progress line (#N ...) says how far it got.
	stamp=$(date -u +%Y%m%dT%H%M%SZ)
	stats=stats/$stamp-$t${FUZZ_JOB:+.$FUZZ_JOB}.txt
	{
		printf '# fuzz/run.sh %s: -max_total_time=%s%s -max_len=%s, sanitizer %s\n' "$t" "$secs" \
			"${FUZZ_RUNS:+ -runs=$FUZZ_RUNS}" "$(max_len "$t")" "$sanitizer"
		grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1 || true
		grep -E '^(Done [0-9]+ runs in|stat::)|^==[0-9]+== ERROR|deadly signal|^SUMMARY' "$log" || true
	} >"$here/$stats"
	execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
	[[ -n $execs ]] || execs=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1 | sed 's/^#\([0-9]*\).*/\1/')
	took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
	rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
	found=$(find "artifacts/$t" -type f -newer "$mark" 2>/dev/null | wc -l) # this run's only
	rm -f "$mark"
	printf '%-14s %12s %10s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$found"
	[[ -f $totals ]] || printf '# target\texecutions\tseconds\tfindings\tdate\tsanitizer\tstats\n' >"$totals"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${execs:-0}" "${took:-$secs}" "$found" "$(date -u +%F)" \
		"$sanitizer" "$stats" >>"$totals"
done
