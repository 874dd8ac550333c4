#!/usr/bin/env bash
# The full soak test: the rk-soak scenario with 1000 insmod/rmmod cycles (CI runs 100 as part of
# `tests/vm/run.sh --tools rk`) on the kernel our test modules are built for.
#
#   tests/vm/soak.sh [CYCLES]      default 1000
#
# Needs what tests/vm/run.sh needs, and our static binaries (make build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cycles=${1:-1000}
[[ $cycles =~ ^[1-9][0-9]*$ ]] || { echo "soak.sh: CYCLES must be a positive number" >&2; exit 2; }
# About 2 s per cycle under TCG on a busy 2-CPU host, plus the boot; bounded.
export RKMOD_SOAK_CYCLES=$cycles RKMOD_VM_TIMEOUT=${RKMOD_VM_TIMEOUT:-$((300 + cycles * 3))}
exec "$here/run.sh" --tools rk --kernel 6.1 --scenario rk-soak --verbose
