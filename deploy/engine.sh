#!/usr/bin/env bash
# engine.sh — provide the engine snapgate supports: containerd and runc at the
# pinned releases below, built with the ordinary `go install` from the Go
# module proxy into a cache directory and reused when already there.
#
#   deploy/engine.sh bin      print the directory holding containerd,
#                             containerd-shim-runc-v2, ctr and runc, building
#                             whatever is missing first (idempotent)
#   deploy/engine.sh versions print the pinned versions
#
# The cache is $SNAPGATE_ENGINE_DIR (default /var/cache/snapgate/engine); each
# version builds into a directory named after it, so a version bump builds
# afresh and an old build is never mistaken for the new one. Only the
# directory goes to stdout; progress goes to stderr.
#
# Why not Debian's packages: bookworm ships containerd 1.6.20 and runc 1.1.5,
# which have no idmapped mounts for user namespaces and lack the fixes for
# the November 2025 runc CVEs (CVE-2025-31133, CVE-2025-52565, CVE-2025-52881).
set -euo pipefail

CONTAINERD_VERSION=v2.4.2
RUNC_VERSION=v1.5.3

log() { printf 'engine.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

ENGINE_DIR=${SNAPGATE_ENGINE_DIR:-/var/cache/snapgate/engine}
BIN_DIR="$ENGINE_DIR/containerd-$CONTAINERD_VERSION-runc-$RUNC_VERSION/bin"

complete() {
	local b
	for b in containerd containerd-shim-runc-v2 ctr runc; do
		[ -x "$BIN_DIR/$b" ] || return 1
	done
}

# build_deps: runc's seccomp support links libseccomp through cgo.
build_deps() {
	local missing=()
	command -v go >/dev/null || die "Go is required to build the engine (https://go.dev/dl)"
	command -v gcc >/dev/null || missing+=(gcc)
	command -v pkg-config >/dev/null || missing+=(pkg-config)
	[ -f /usr/include/seccomp.h ] || missing+=(libseccomp-dev)
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "building runc needs: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
	command -v apt-get >/dev/null || die "building runc needs: ${missing[*]}; install them by hand"
	log "installing ${missing[*]} from Debian packages"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq "${missing[@]}" >&2
}

build() {
	build_deps
	local tmp="$BIN_DIR.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	# A build of our own: no ambient GOFLAGS (e.g. -mod=vendor of a checkout).
	export GOFLAGS= GOBIN="$tmp"
	log "building containerd $CONTAINERD_VERSION (about 3 minutes on 2 cores)"
	CGO_ENABLED=1 go install \
		"github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
		"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
		"github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION" >&2
	log "building runc $RUNC_VERSION with seccomp"
	CGO_ENABLED=1 go install -tags seccomp "github.com/opencontainers/runc@$RUNC_VERSION" >&2
	"$tmp/runc" --version >&2
	# Rename into place last, so an interrupted build is never taken as done.
	rm -rf "$BIN_DIR"
	mv "$tmp" "$BIN_DIR"
}

cmd_bin() {
	if ! complete; then
		mkdir -p "$ENGINE_DIR"
		exec 8>"$ENGINE_DIR/.lock"
		flock -w 900 8 || die "timed out waiting for another build ($ENGINE_DIR/.lock)"
		complete || build
	fi
	echo "$BIN_DIR"
}

case "${1:-}" in
bin) cmd_bin ;;
versions) echo "containerd $CONTAINERD_VERSION"; echo "runc $RUNC_VERSION" ;;
*) die "usage: $0 bin|versions" ;;
esac
