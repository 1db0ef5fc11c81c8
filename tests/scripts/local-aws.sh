# Sourced by run-tests.sh and run-local.sh: the Python tools in a project
# venv, and a moto server on a free 127.0.0.1 port that stops when the
# calling script exits, whether it succeeds or fails. moto enforces IAM
# (docs/behaviour.md 2.10): the shell signs as an admin user created first, and each
# function runs as its own user (tests/src/iam/).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
REQUIREMENTS="$ROOT/tests/requirements.txt"

ensure_python_tools() {
  local stamp="$VENV/.requirements"
  if [ -x "$VENV/bin/moto_server" ] && cmp -s "$REQUIREMENTS" "$stamp"; then
    return
  fi
  echo "==> installing moto and cfn-lint into $VENV (first run only)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$stamp"
}

ensure_rust_tools() {
  if ! command -v cargo-nextest >/dev/null 2>&1; then
    echo "==> installing cargo-nextest"
    cargo install --locked cargo-nextest
  fi
}

# Debian's Chromium and ChromeDriver, for the console's browser test: as
# root, or through sudo without a password; otherwise it says what to do.
ensure_browser() {
  if command -v chromedriver >/dev/null 2>&1 && [ -x /usr/bin/chromium ]; then
    return
  fi
  echo "==> installing Debian's chromium and chromium-driver (first run only)"
  local run=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      run=(sudo)
    else
      echo "the browser test needs Debian's chromium and chromium-driver: install them as root (apt-get install chromium chromium-driver)" >&2
      return 1
    fi
  fi
  "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

stop_moto() {
  if [ -n "${MOTO_PID:-}" ]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=""
  fi
}

start_moto() {
  local port log
  port="$(free_port)"
  mkdir -p "$ROOT/target"
  log="$ROOT/target/moto.log"
  # The AWS managed policies SAM attaches to the functions' roles.
  MOTO_IAM_LOAD_MANAGED_POLICIES=true "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  MOTO_PID=$!
  trap stop_moto EXIT
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
      export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
      export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
      export AWS_EC2_METADATA_DISABLED=true
      local admin
      admin="$("$VENV/bin/python" "$ROOT/tests/scripts/moto-enforce-iam.py" "$AWS_ENDPOINT_URL")"
      export AWS_ACCESS_KEY_ID="${admin%% *}" AWS_SECRET_ACCESS_KEY="${admin##* }"
      echo "==> moto listening on $AWS_ENDPOINT_URL (IAM enforced)"
      return
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "moto failed to start:" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.2
  done
  echo "moto did not become ready on port $port" >&2
  return 1
}
