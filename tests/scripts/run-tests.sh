#!/usr/bin/env bash
# Every check of the project: formatting, lints, unit, integration and
# black-box tests (real binaries, moto, the Entra emulator), and the SAM
# template. Installs what it needs on first run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/local-aws.sh"
cd "$ROOT"

ensure_python_tools
ensure_rust_tools
ensure_browser

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> building the function binaries"
cargo build --workspace --bins

echo "==> template.yaml"
"$VENV/bin/cfn-lint" template.yaml
"$VENV/bin/python" tests/scripts/lint-sam-events.py template.yaml

start_moto
echo "==> tests (each function under its own IAM identity)"
rm -rf target/iam-usage
cargo nextest run --workspace --no-fail-fast
echo "==> IAM grants no test used"
# Built with the binaries above (a `cargo run -p` would build its
# dependencies again under other features).
target/debug/iam-report
