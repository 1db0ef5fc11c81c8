#!/usr/bin/env bash
# Import figures (no assertions): tests/scripts/benchmark.sh [users] [groups]
# Release binaries against moto and the Entra emulator on this machine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/local-aws.sh"
cd "$ROOT"
ensure_python_tools
echo "==> building release binaries"
cargo build --release --workspace --bins
start_moto
"$ROOT/target/release/import-benchmark" "$@"
