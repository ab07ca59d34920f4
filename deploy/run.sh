#!/usr/bin/env bash
# `make run`: a private containerd when none is reachable, then snapgate in
# the foreground with the embedded SQLite store. Without a configured key it
# mints a development key once and keeps it in the data dir.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data_dir=${1:?data dir}
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
