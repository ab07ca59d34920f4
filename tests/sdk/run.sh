#!/usr/bin/env bash
# Runs the official-SDK contract tests against a live snapgate:
# a local OCI registry with a busybox image, a snapgate on a free port with
# its own SQLite data dir, keys for two tenants, then `node --test` in each
# vendor directory. Everything started here is stopped on exit.
# Usage: tests/sdk/run.sh CONTAINERD_ADDRESS [vendor...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
containerd_address=${1:?containerd address}
shift
vendors=${*:-langsmith e2b cross}
bin="$root/bin"
# ctr of the pinned engine, for the clean-up below.
PATH="$("$root/deploy/engine.sh" bin):$PATH"
work=$(mktemp -d /tmp/snapgate-sdk.XXXXXX)
pids=()
export SNAPGATE_CONTAINERD_NAMESPACE="snapgate-sdk-$$"
# A "remote" host for the egress tests: a network namespace of its own
# behind a veth from this node, at a test address (a /30 of TEST-NET-3
# chosen by this run, so runs side by side do not share one), serving
# HTTP with busybox. Nothing leaves the machine.
remote_ns="sgsdk-$$"
remote_link="sgsr$$"
remote_net=$(( ($$ % 63 + 1) * 4 ))
remote_node_addr=203.0.113.$((remote_net + 1))
remote_addr=203.0.113.$((remote_net + 2))
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip link del "$remote_link" 2>/dev/null || true
  ip netns del "$remote_ns" 2>/dev/null || true
  # Sandboxes the tests left (a failed assertion skips their clean-up).
  ctr --address "$containerd_address" -n "$SNAPGATE_CONTAINERD_NAMESPACE" tasks ls -q 2>/dev/null \
    | xargs -r -n1 ctr --address "$containerd_address" -n "$SNAPGATE_CONTAINERD_NAMESPACE" tasks kill -s KILL >/dev/null 2>&1 || true
  sleep 0.5
  "$root/deploy/disks.sh" release "$work" || true
  ctr --address "$containerd_address" -n "$SNAPGATE_CONTAINERD_NAMESPACE" containers ls -q 2>/dev/null \
    | xargs -r -n1 ctr --address "$containerd_address" -n "$SNAPGATE_CONTAINERD_NAMESPACE" tasks rm -f >/dev/null 2>&1 || true
  ctr --address "$containerd_address" -n "$SNAPGATE_CONTAINERD_NAMESPACE" containers ls -q 2>/dev/null \
    | xargs -r ctr --address "$containerd_address" -n "$SNAPGATE_CONTAINERD_NAMESPACE" containers rm >/dev/null 2>&1 || true
  ctr --address "$containerd_address" -n "$SNAPGATE_CONTAINERD_NAMESPACE" images ls -q 2>/dev/null \
    | xargs -r ctr --address "$containerd_address" -n "$SNAPGATE_CONTAINERD_NAMESPACE" images rm --sync >/dev/null 2>&1 || true
  ctr --address "$containerd_address" namespaces rm "$SNAPGATE_CONTAINERD_NAMESPACE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$remote_ns"
ip link add "$remote_link" type veth peer name eth0 netns "$remote_ns"
ip addr add "$remote_node_addr/30" dev "$remote_link"
ip link set "$remote_link" up
ip -n "$remote_ns" addr add "$remote_addr/30" dev eth0
ip -n "$remote_ns" link set eth0 up
ip -n "$remote_ns" route add default via "$remote_node_addr"
mkdir -p "$work/remote"
echo "remote host" >"$work/remote/index.html"
ip netns exec "$remote_ns" busybox httpd -f -p "$remote_addr:8079" -h "$work/remote" </dev/null >/dev/null 2>&1 &
pids+=($!)
ip netns exec "$remote_ns" busybox httpd -f -p "$remote_addr:80" -h "$work/remote" </dev/null >/dev/null 2>&1 &
pids+=($!)
export SNAPGATE_TEST_REMOTE="$remote_addr:8079"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

"$bin/testregistry" -sudo >"$work/registry.addr" 2>"$work/registry.log" </dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/registry.addr" ] && break; sleep 0.1; done
registry=$(head -n1 "$work/registry.addr")
[ -n "$registry" ] || { echo "test registry did not start:"; cat "$work/registry.log"; exit 1; }

port=$(free_port)
export SNAPGATE_DATA_DIR="$work/data" SNAPGATE_LISTEN="127.0.0.1:$port"
export SNAPGATE_CONTAINERD_ADDRESS="$containerd_address"
# The suites start more sandboxes at once than a small CI machine has cores.
export SNAPGATE_NODE_VCPUS=64
# Quotas default to a share of this host; the suites assume none.
export SNAPGATE_QUOTA_SANDBOXES=0 SNAPGATE_QUOTA_SNAPSHOTS=0 SNAPGATE_QUOTA_STORAGE_BYTES=0
export SNAPGATE_INSECURE_REGISTRIES="$registry"
export SNAPGATE_DEFAULT_IMAGE="$registry/busybox:latest"
key_a=$("$bin/snapgate" keys create --tenant sdk-a)
key_b=$("$bin/snapgate" keys create --tenant sdk-b)
"$bin/snapgate" serve >"$work/snapgate.log" 2>&1 </dev/null &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { echo "snapgate did not become healthy:"; cat "$work/snapgate.log"; exit 1; }

status=0
for vendor in $vendors; do
  dir="$root/tests/sdk/$vendor"
  (cd "$dir" && { [ -d node_modules ] && npm ls >/dev/null 2>&1 || npm ci --no-audit --no-fund >/dev/null; }) || { echo "npm ci failed in $dir"; exit 1; }
  echo "== SDK contract tests: $vendor"
  (cd "$dir" && SNAPGATE_URL="http://127.0.0.1:$port" SNAPGATE_API_KEY="$key_a" SNAPGATE_OTHER_KEY="$key_b" \
    TEST_IMAGE="$registry/busybox:latest" TEST_SUDO_IMAGE="$registry/busybox:sudo" node --test --test-reporter=spec) || status=1
done
if [ $status -ne 0 ]; then
  echo "== snapgate log (last 60 lines)"; tail -n 60 "$work/snapgate.log"
fi
# Keys must never reach the log.
if grep -qF -e "$key_a" -e "$key_b" "$work/snapgate.log"; then
  echo "FAIL: an API key appears in the snapgate log"; status=1
fi
exit $status
