#!/usr/bin/env bash
# The main job, locally: moto for AWS, the Entra emulator for Microsoft, and
# the real function binaries driven through the Lambda Runtime API.
#   run-local.sh                  the scripted demo (ten steps, then it ends)
#   run-local.sh --serve [...]    the live stack and its admin console, until
#                                 Ctrl-C; options: --interval 10s, --port N
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/local-aws.sh"
cd "$ROOT"

ensure_python_tools
echo "==> building the function binaries"
cargo build --workspace --bins
start_moto
if [[ "${1:-}" == "--serve" ]]; then
  shift
  # Not exec: moto is stopped when this script exits.
  "$ROOT/target/debug/local-stack" "$@"
else
  "$ROOT/target/debug/local-demo"
fi
