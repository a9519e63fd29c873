#!/usr/bin/env bash
# The WSGI server as a measured choice: the same DTR instance setup under gunicorn (what
# `python app.py serve` runs) and under granian, each measured by bench.py (blob GET, manifest
# GET and blob HEAD request rates, small pushes), ROUNDS times alternating. granian is not a
# dependency: it is installed into a temporary folder for the run (pip, from PyPI).
#   bench/wsgi_servers.sh [ROUNDS] [extra bench.py arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ROUNDS=${1:-2}
shift || true
EXTRA=("$@")
WORK=$(mktemp -d /tmp/dtr-wsgi.XXXXXX)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
$PY -m pip install -q --target "$WORK/lib" "granian==${GRANIAN_VERSION:-2.8.9}"
cat >"$WORK/granian_app.py" <<'PYEOF'
import os

from dtr import create_app

app = create_app(os.environ["DTR_BENCH_INSTANCE"])
app.config["SESSION_COOKIE_SECURE"] = False  # plain HTTP on loopback, as `serve --http`
PYEOF

measure() {  # measure gunicorn|granian ROUND
  local kind=$1 port=$((5300 + $2)) instance="$WORK/$1-$2" password=bench-$RANDOM$RANDOM
  echo "$password" | $PY app.py create-user bench --role admin --password-stdin \
    --instance "$instance" >/dev/null 2>&1
  $PY app.py setting create_on_push true --instance "$instance" >/dev/null 2>&1
  if [ "$kind" = gunicorn ]; then
    $PY app.py serve --http --bind "127.0.0.1:$port" --instance "$instance" \
      >"$instance.log" 2>&1 &
  else  # one worker, 32 threads for the application, as gunicorn's gthread default here
    DTR_BENCH_INSTANCE=$instance PYTHONPATH="$WORK/lib:$WORK:." $PY -m granian \
      --interface wsgi --host 127.0.0.1 --port "$port" --workers 1 --blocking-threads 32 \
      granian_app:app >"$instance.log" 2>&1 &
  fi
  SERVER=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  echo "=== $kind, round $2"
  BENCH_PASSWORD=$password $PY bench/bench.py --url "http://127.0.0.1:$port" --user bench \
    --repo bench/bench --server-pid "$SERVER" --skip mono,chunked,tags,catalog "${EXTRA[@]}" \
    | grep -E '^(Blob|Manifest|Push)'
  kill "$SERVER" && wait "$SERVER" 2>/dev/null || true
  SERVER=
}
for round in $(seq "$ROUNDS"); do
  measure gunicorn "$round"
  measure granian "$round"
done
