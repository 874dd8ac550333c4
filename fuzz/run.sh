#!/usr/bin/env bash
# Runs the fuzz targets, each for a given time, with corpora seeded from our fixtures and the
# Debian module trees; prints executions and findings per target.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      default: 600 s, every target
#
# Needs the nightly toolchain and cargo-fuzz (installed if missing). A crash or hang leaves its
# input in fuzz/artifacts/TARGET/; copy it to tests/fuzz_regressions/TARGET/ with a name saying
# what it found, and the regression test (tests/it/fuzz_regressions.rs) replays it forever after.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${1:-600}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(module_file proc_modules index text_files signature)
debian=${RKMOD_DEBIAN_DIR:-$repo/target/debian}

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || { echo "fuzz/run.sh: needs the nightly toolchain" >&2; exit 1; }

seed() { # TARGET: fill fuzz/corpus/TARGET once
	local t=$1 c=$here/corpus/$1
	[[ -d $c ]] && return
	mkdir -p "$c"
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
	signature)
		for f in "$repo"/tests/fixtures/rk_basic_signed.ko "$repo"/tests/fixtures/bad/garbage_sig.ko; do
			tail -c 2048 "$f" >"$c/$(basename "$f")"
		done ;;
	esac
}

cd "$here"
printf '%-14s %12s %10s %s\n' target executions exec/s findings
for t in "${targets[@]}"; do
	seed "$t"
	log=$here/$t.log
	# Inputs big enough for each format, small enough to stay fast.
	case $t in module_file) max_len=262144 ;; index) max_len=65536 ;; *) max_len=4096 ;; esac
	# -rss_limit_mb: a decompression bomb is refused at 256 MiB, so 2 GiB means a leak.
	cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -max_len="$max_len" \
		-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || true
	execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
	rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
	found=$(find "artifacts/$t" -type f 2>/dev/null | wc -l)
	printf '%-14s %12s %10s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$found"
done
