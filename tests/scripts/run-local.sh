#!/usr/bin/env bash
# The main job, locally: moto for AWS, the Entra emulator for Microsoft, and
# the real function binaries driven through the Lambda Runtime API.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/local-aws.sh"
cd "$ROOT"

ensure_python_tools
echo "==> building the function binaries"
cargo build --workspace --bins
start_moto
"$ROOT/target/debug/local-demo"
