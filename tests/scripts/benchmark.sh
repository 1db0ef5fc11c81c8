#!/usr/bin/env bash
# Figures, no assertions: tests/scripts/benchmark.sh [users] [groups]: each
# function binary's size and cold start, then the import and export runs.
# Release binaries against moto and the Entra emulator on this machine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/local-aws.sh"
cd "$ROOT"
ensure_python_tools
echo "==> building release binaries"
cargo build --release --workspace --bins
echo "==> function binaries: size and cold start"
python3 tests/scripts/cold-start.py "$ROOT/target/release"
start_moto
"$ROOT/target/release/import-benchmark" "$@"
