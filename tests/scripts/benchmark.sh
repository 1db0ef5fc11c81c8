#!/usr/bin/env bash
# Figures, no assertions: tests/scripts/benchmark.sh [--quick] [--users N]
# [--groups N]. Builds release binaries, measures each function binary's
# size and cold start, then runs the benchmark's rows (first import, store
# ceiling, Graph-bound import, idle poll and scheduler tick, export, latency,
# app-only token requests over an hour of polls) against
# moto and the Entra emulator. The figures are printed as a Markdown table
# and kept as JSON in bench/results/<UTC time>.json.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/local-aws.sh"
cd "$ROOT"
ensure_python_tools
echo "==> building release binaries"
cargo build --release --workspace --bins
mkdir -p bench/results
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
binaries="$ROOT/target/benchmark-binaries.json"
echo "==> function binaries: size and cold start"
python3 tests/scripts/cold-start.py "$ROOT/target/release" 25 --json "$binaries"
start_moto
"$ROOT/target/release/benchmark" --binaries "$binaries" --out "bench/results/$stamp.json" "$@"
