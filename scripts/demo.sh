#!/usr/bin/env bash
# The main job: boot Debian's 6.1 kernel in QEMU (the host has no module support) and run a
# session with rkmod's tools on real Debian modules and our test modules; the transcript is
# printed as it happens. Any tool of ours not built yet falls back to kmod's.
set -euo pipefail
cd "$(dirname "$0")/.."
export RKMOD_VM_EXTRA=$PWD/tests/vm/demo${RKMOD_VM_EXTRA:+:$RKMOD_VM_EXTRA}
exec tests/vm/run.sh --kernel 6.1 --scenario demo --tools rk --transcript
