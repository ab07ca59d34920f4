#!/usr/bin/env bash
# containerd.sh — find or start the containerd snapgate talks to.
#
#   deploy/containerd.sh up DATA_DIR     print the address (socket path) of a
#                                        reachable containerd, starting a private
#                                        one under DATA_DIR/containerd if needed
#   deploy/containerd.sh down DATA_DIR   stop that private containerd (only it)
#
# Order for `up`: $SNAPGATE_CONTAINERD_ADDRESS, then the system socket
# /run/containerd/containerd.sock when it runs containerd 2.x, then a private
# daemon already running from DATA_DIR, else start a private one with the
# engine deploy/engine.sh provides (containerd and runc at pinned versions,
# built once into a cache directory). Only the address goes to stdout;
# everything else goes to stderr. Needs root.
set -euo pipefail

SYSTEM_SOCK=/run/containerd/containerd.sock
START_TIMEOUT=20 # seconds
STOP_TIMEOUT=10  # seconds between TERM and KILL
SUN_PATH_MAX=107 # sockaddr_un.sun_path is 108 bytes including the NUL

log() { printf 'containerd.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() { die "usage: $0 up|down DATA_DIR"; }

# reachable ADDRESS: does a containerd answer there?
# A missing socket is answered at once: ctr would wait 10 s to dial it.
reachable() {
	local path=${1#unix://}
	[ -n "$path" ] && [ -S "$path" ] &&
		timeout 5 "$ENGINE_BIN/ctr" --connect-timeout 2s --address "$1" version >/dev/null 2>&1
}

# supported ADDRESS: does the containerd there run a supported release (2.x)?
# snapgate itself checks again, with runc's version and features, at start.
supported() {
	local v
	v=$(timeout 5 "$ENGINE_BIN/ctr" --connect-timeout 2s --address "$1" version 2>/dev/null |
		awk '/^Server:/{s=1} s && $1=="Version:"{print $2; exit}')
	[[ "$v" =~ ^v?([2-9]|[1-9][0-9])\. ]]
}

# private_pid: the pid in the pid file if that process is our containerd.
private_pid() {
	local pid
	[ -f "$PID_FILE" ] || return 1
	pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	# Guard against pid reuse: the process must be containerd with our config.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$CONFIG" || return 1
	echo "$pid"
}

# socket_path: the private daemon's socket, moved under /run when the path
# under DATA_DIR would not fit in sun_path (containerd also appends ".ttrpc").
socket_path() {
	local sock="$CTR_DIR/containerd.sock"
	if [ $((${#sock} + 6)) -gt "$SUN_PATH_MAX" ]; then
		local hash
		hash=$(printf '%s' "$DATA_DIR" | sha256sum | cut -c1-12)
		sock="/run/snapgate-$hash/containerd.sock"
	fi
	echo "$sock"
}

write_config() {
	mkdir -p "$CTR_DIR/root" "$STATE_DIR" "$(dirname "$SOCK")"
	# The task bundles live in the state directory, and runc mounts a
	# sandbox's root there from inside its user namespace: every directory
	# above it must let others through (DATA_DIR is 0700).
	chmod 0711 "$(dirname "$STATE_DIR")" "$STATE_DIR"
	cat >"$CONFIG.tmp" <<EOF
# Written by deploy/containerd.sh; private containerd for $DATA_DIR.
# The shim and runc are found on the PATH containerd starts with: the
# engine's bin directory comes first.
version = 3
root = "$CTR_DIR/root"
state = "$STATE_DIR"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.podsandbox.controller.v1.podsandbox"]

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$SOCK.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""
EOF
	mv "$CONFIG.tmp" "$CONFIG"
}

start_private() {
	write_config
	rm -f "$SOCK" "$SOCK.ttrpc"
	log "starting private containerd (config $CONFIG, log $LOG_FILE)"
	# setsid: own session, so it survives the caller (a test, a CI step).
	# 9>&- : do not hand the lock fd to the daemon, or the lock lives with it.
	PATH="$ENGINE_BIN:$PATH" setsid "$ENGINE_BIN/containerd" --config "$CONFIG" </dev/null >>"$LOG_FILE" 2>&1 9>&- &
	local pid=$!
	echo "$pid" >"$PID_FILE"
	local deadline=$((SECONDS + START_TIMEOUT))
	until reachable "$SOCK"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$LOG_FILE" >&2 || true
			rm -f "$PID_FILE"
			die "containerd exited during start-up; see $LOG_FILE"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			tail -n 20 "$LOG_FILE" >&2 || true
			die "containerd did not answer on $SOCK within ${START_TIMEOUT}s; see $LOG_FILE (pid $pid left running)"
		fi
		sleep 0.2
	done
	log "private containerd running, pid $pid"
}

cmd_up() {
	# The pinned release's binaries (ctr for the checks); built if missing.
	ENGINE_BIN=$("$(dirname "$0")/engine.sh" bin) || die "could not provide containerd and runc (deploy/engine.sh)"
	if [ -n "${SNAPGATE_CONTAINERD_ADDRESS:-}" ]; then
		if reachable "$SNAPGATE_CONTAINERD_ADDRESS"; then
			echo "$SNAPGATE_CONTAINERD_ADDRESS"
			return 0
		fi
		log "SNAPGATE_CONTAINERD_ADDRESS=$SNAPGATE_CONTAINERD_ADDRESS does not answer; looking further"
	fi
	if reachable "$SYSTEM_SOCK"; then
		if supported "$SYSTEM_SOCK"; then
			echo "$SYSTEM_SOCK"
			return 0
		fi
		log "the system containerd at $SYSTEM_SOCK is older than 2.0; starting a private one"
	fi
	mkdir -p "$CTR_DIR"
	# Serialize concurrent `up`s for the same DATA_DIR (parallel test runs).
	exec 9>"$CTR_DIR/.lock"
	flock -w 60 9 || die "timed out waiting for the lock $CTR_DIR/.lock"
	if private_pid >/dev/null && reachable "$SOCK"; then
		echo "$SOCK"
		return 0
	fi
	if pid=$(private_pid); then
		die "containerd pid $pid (from $PID_FILE) is running but does not answer on $SOCK; run '$0 down $DATA_DIR' first"
	fi
	start_private
	echo "$SOCK"
}

cmd_down() {
	[ -d "$CTR_DIR" ] || { log "nothing to stop in $DATA_DIR"; return 0; }
	exec 9>"$CTR_DIR/.lock"
	flock -w 60 9 || die "timed out waiting for the lock $CTR_DIR/.lock"
	local pid
	if ! pid=$(private_pid); then
		log "no private containerd running for $DATA_DIR"
		rm -f "$PID_FILE"
		return 0
	fi
	log "stopping containerd pid $pid"
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + STOP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "containerd pid $pid ignored TERM for ${STOP_TIMEOUT}s; sending KILL"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
	rm -f "$PID_FILE" "$SOCK" "$SOCK.ttrpc"
	# Empty directories only: a task that outlived containerd keeps its bundle.
	[ -d "$STATE_DIR" ] && find "$STATE_DIR" -xdev -depth -type d -empty -delete 2>/dev/null || true
	case "$SOCK" in /run/snapgate-*) rmdir "$(dirname "$SOCK")" 2>/dev/null || true ;; esac
	rmdir "$(dirname "$STATE_DIR")" 2>/dev/null || true
	log "stopped"
}

[ $# -eq 2 ] || usage
ACTION=$1
mkdir -p "$2"
DATA_DIR=$(realpath "$2")
CTR_DIR="$DATA_DIR/containerd"
CONFIG="$CTR_DIR/config.toml"
PID_FILE="$CTR_DIR/containerd.pid"
LOG_FILE="$CTR_DIR/containerd.log"
SOCK=$(socket_path)
# Runtime state under /run, like the system containerd's /run/containerd.
STATE_DIR="/run/snapgate-$(printf '%s' "$DATA_DIR" | sha256sum | cut -c1-12)/state"

case "$ACTION" in
up) cmd_up ;;
down) cmd_down ;;
*) usage ;;
esac
