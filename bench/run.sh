#!/usr/bin/env bash
# `make bench`: snapgate's create-to-ready time against `ctr images pull` of
# the same image from the same local registry on the same containerd, the
# latency of GET /snapshots/{id} under 32 concurrent clients with request
# validation on and off, sandbox start and capture, and the dataplane through
# both vendors' JS SDKs (tests/sdk/bench: run('true') against `ctr task exec`,
# 256 MiB transfers against `cp`), and the two-node figures of tests/cluster.
# Prints figures; fails only when something breaks.
#
# Usage: [SNAPGATE_BIN=path] bench/run.sh DATA_DIR [snapbench flags...]
#   e.g. bench/run.sh .snapgate-test -runs 3 -duration 2s
# A private containerd started for the run (deploy/containerd.sh up DATA_DIR)
# is stopped at the end; one that was already up is reused and left running.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data_dir=${1:?usage: bench/run.sh DATA_DIR [snapbench flags...]}
shift
mkdir -p "$data_dir"
pidfile="$data_dir/containerd/containerd.pid"
was_running=0
[ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && was_running=1
# ctr and the rest of the pinned engine, for the scripts that call them.
engine_bin=$("$root/deploy/engine.sh" bin) || { echo "FAIL: could not provide containerd and runc"; exit 1; }
export PATH="$engine_bin:$PATH"
addr=$("$root/deploy/containerd.sh" up "$data_dir") || { echo "FAIL: could not reach or start containerd"; exit 1; }
work=$(mktemp -d /tmp/snapbench-bin.XXXXXX)
stop() {
	rm -rf "$work"
	[ $was_running -eq 1 ] || "$root/deploy/containerd.sh" down "$data_dir" >/dev/null 2>&1 || true
}
trap stop EXIT

# Fresh binaries of the tree being measured (cheap with the build cache);
# SNAPGATE_BIN=path measures an already built snapgate instead.
snapgate_bin=${SNAPGATE_BIN:-$work/snapgate}
if [ -z "${SNAPGATE_BIN:-}" ]; then
	(cd "$root" && go build -trimpath -o "$snapgate_bin" ./cmd/snapgate) || { echo "FAIL: build snapgate"; exit 1; }
fi
(cd "$root" && go build -trimpath -o "$work/snapbench" ./cmd/snapbench) || { echo "FAIL: build snapbench"; exit 1; }

# The SDKs for the dataplane part, at the versions package-lock.json pins.
sdk_dir="$root/tests/sdk/bench"
case " $* " in *" -dataplane=false "* | *" --dataplane=false "*) ;; *)
	(cd "$sdk_dir" && { [ -d node_modules ] && npm ls >/dev/null 2>&1 || npm ci --no-audit --no-fund >/dev/null; }) ||
		{ echo "FAIL: npm ci in $sdk_dir (or pass -dataplane=false)"; exit 1; }
esac

rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain 2>/dev/null | wc -l)
echo "== snapgate benchmark: tree $rev ($dirty uncommitted paths), containerd at $addr"
"$work/snapbench" -containerd "$addr" -snapgate "$snapgate_bin" -sdk-dir "$sdk_dir" "$@"
status=$?
# Two nodes (tests/cluster): a start on a node lacking the snapshot vs one
# that has it cached, API throughput through two nodes vs one. Each node
# has its own containerd and network namespace; Postgres is the machine's.
echo "== cluster: two nodes"
(cd "$root" && SNAPGATE_CLUSTER_BENCH=1 go test -count=1 -v -timeout 20m -run '^TestClusterBench$' ./tests/cluster) |
	grep -E 'bench_test.go|^(--- |ok|FAIL|SKIP)' || status=1
if [ $status -ne 0 ]; then echo "== make bench: FAILED (exit $status)"; fi
exit $status
