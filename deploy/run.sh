#!/usr/bin/env bash
# `make run`: a private containerd when none is reachable, then snapgate in
# the foreground with the embedded SQLite store. Without a configured key it
# mints a development key once and keeps it in the data dir.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The data dir is the argument (make passes DATA_DIR, which defaults to
# SNAPGATE_DATA_DIR), else SNAPGATE_DATA_DIR. An explicit one that differs
# from SNAPGATE_DATA_DIR wins, but says so: it is not silently replaced.
data_dir=${1:-${SNAPGATE_DATA_DIR:?usage: deploy/run.sh DATA_DIR (or set SNAPGATE_DATA_DIR)}}
if [ -n "${SNAPGATE_DATA_DIR:-}" ] && [ "$SNAPGATE_DATA_DIR" != "$data_dir" ]; then
  echo "data dir $data_dir (DATA_DIR) overrides SNAPGATE_DATA_DIR=$SNAPGATE_DATA_DIR" >&2
fi
# The data dir holds the database, the secret key and the dev API key:
# nobody else may read it (snapgate also makes it 0700 itself).
(umask 077; mkdir -p "$data_dir")
chmod 700 "$data_dir"
export SNAPGATE_DATA_DIR="$data_dir"
export SNAPGATE_CONTAINERD_ADDRESS=$("$root/deploy/containerd.sh" up "$data_dir")
if [ -z "${SNAPGATE_BOOTSTRAP_API_KEY:-}" ]; then
  keyfile="$data_dir/dev-api-key"
  if [ ! -s "$keyfile" ]; then
    (umask 077; printf 'e2b_%s\n' "$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$keyfile")
  fi
  chmod 600 "$keyfile"
  export SNAPGATE_BOOTSTRAP_API_KEY=$(cat "$keyfile")
  # The key itself is never printed: terminal scrollback, CI logs and
  # journald are read by others. Only its owner can read the file.
  echo "development API key (tenant ${SNAPGATE_BOOTSTRAP_TENANT:-default}) is in $keyfile (mode 0600; cat it to use it)" >&2
fi
echo "containerd: $SNAPGATE_CONTAINERD_ADDRESS; serving on ${SNAPGATE_LISTEN:-127.0.0.1:8080}" >&2
exec "$root/bin/snapgate" serve
