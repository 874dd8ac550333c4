#!/usr/bin/env bash
# The full soak test: the rk-soak scenario with 1000 insmod/rmmod cycles (CI runs 100, or 15
# minutes' worth, as part of `tests/vm/run.sh --tools rk`) on the kernel our test modules are
# built for.
#
#   tests/vm/soak.sh [CYCLES]      default 1000
#
# Needs what tests/vm/run.sh needs, and our static binaries (make build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cycles=${1:-1000}
[[ $cycles =~ ^[1-9][0-9]*$ ]] || { echo "soak.sh: CYCLES must be a positive number" >&2; exit 2; }
# All the cycles, however long they take (no time limit, unlike make test's run): the scenario
# prints a line every 10 cycles, so the watchdog (RKMOD_VM_STALL) still catches a hang. About
# 2 s per cycle under TCG on an idle 2-CPU host, several times that on a loaded one; the overall
# cap (RKMOD_VM_TIMEOUT) is 20 s per cycle plus an hour.
export RKMOD_SOAK_CYCLES=$cycles RKMOD_SOAK_MINUTES=0
export RKMOD_VM_TIMEOUT=${RKMOD_VM_TIMEOUT:-$((3600 + cycles * 20))}
exec "$here/run.sh" --tools rk --kernel 6.1 --scenario rk-soak --verbose
