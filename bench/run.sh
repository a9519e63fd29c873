#!/usr/bin/env bash
# Start a throw-away DTR (plain HTTP on loopback), run bench.py against it and the reference
# registry side by side, and stop everything. Extra arguments go to bench.py.
#   bench/run.sh [--quick] [--big-upload-gib 1] [--markdown bench/results/run.md]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT=${BENCH_PORT:-5099}
INSTANCE=$(mktemp -d /tmp/dtr-bench.XXXXXX)
PASSWORD=bench-password-$RANDOM$RANDOM
cleanup() {
  [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  rm -rf "$INSTANCE"
}
trap cleanup EXIT
echo "$PASSWORD" | $PY app.py create-user bench --role admin --password-stdin --instance "$INSTANCE/i" >/dev/null 2>&1
$PY app.py setting create_on_push true --instance "$INSTANCE/i" >/dev/null 2>&1
$PY app.py serve --http --bind "127.0.0.1:$PORT" --instance "$INSTANCE/i" >"$INSTANCE/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
BENCH_PASSWORD=$PASSWORD $PY bench/bench.py --url "http://127.0.0.1:$PORT" --user bench \
  --repo bench/bench --catalog-prefix bench --server-pid "$SERVER" --reference "$@"
