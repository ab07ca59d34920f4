#!/usr/bin/env bash
# `make test`: every Go test (unit, and integration against the real
# containerd, Postgres on 127.0.0.1:5432 and SQLite), then the official-SDK
# contract tests. A private containerd started for the run is stopped at the
# end; one that was already up is reused and left running.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data_dir=${1:?data dir}
mkdir -p "$data_dir"
pidfile="$data_dir/containerd/containerd.pid"
was_running=0
[ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && was_running=1
# ctr and the rest of the pinned engine, for the scripts that call them.
engine_bin=$("$root/deploy/engine.sh" bin) || { echo "FAIL: could not provide containerd and runc"; exit 1; }
export PATH="$engine_bin:$PATH"
addr=$("$root/deploy/containerd.sh" up "$data_dir") || { echo "FAIL: could not reach or start containerd"; exit 1; }
stop() { [ $was_running -eq 1 ] || "$root/deploy/containerd.sh" down "$data_dir" >/dev/null 2>&1 || true; }
trap stop EXIT
export SNAPGATE_CONTAINERD_ADDRESS="$addr"
# In CI a missing Postgres is a failure, not a skip.
export SNAPGATE_REQUIRE_POSTGRES=${SNAPGATE_REQUIRE_POSTGRES:-${CI:+1}}

status=0
echo "== go test ./... (containerd at $addr)"
(cd "$root" && go test -count=1 -timeout 30m ./...) || status=1
echo "== SDK contract tests"
"$root/tests/sdk/run.sh" "$addr" langsmith e2b cross || status=1
if [ $status -eq 0 ]; then echo "== make test: all passed"; else echo "== make test: FAILED"; fi
exit $status
