#!/usr/bin/env bash
# Installs what snapgate needs on a Debian machine, only when missing:
# busybox-static (the sandboxes' init, test images), curl (health checks),
# e2fsprogs (sandbox disks), nftables (sandbox egress rules), sudo (a test image), and the engine (containerd and runc at pinned
# versions, built by deploy/engine.sh into its cache). Idempotent.
set -euo pipefail
missing=()
# busybox-static: ldd fails on a static binary (Debian's plain busybox is dynamic).
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || missing+=(busybox-static)
command -v curl >/dev/null || missing+=(curl)
# e2fsprogs: mkfs.ext4 formats each sandbox's disk; util-linux: nsenter and
# unshare, used by the tests.
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
{ command -v nsenter >/dev/null && command -v unshare >/dev/null; } || missing+=(util-linux)
# nftables: the nft command writes sandboxes' egress rules (engine/network).
command -v nft >/dev/null || missing+=(nftables)
# iproute2: the network tests make their "remote" host with ip netns.
command -v ip >/dev/null || missing+=(iproute2)
# sudo: copied with its libraries into a test image (setuid in a sandbox).
[ -x /usr/libexec/sudo/sudoers.so ] || [ -f /usr/libexec/sudo/sudoers.so ] || missing+=(sudo)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "snapgate needs: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "installing ${missing[*]} from Debian packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${missing[@]}" >&2
fi
command -v go >/dev/null || { echo "Go is required (https://go.dev/dl)" >&2; exit 1; }
"$(dirname "$0")/engine.sh" bin >/dev/null
