#!/usr/bin/env bash
# disks.sh release DIR — unmount the sandbox disks whose image files lie
# under DIR (a snapgate data dir). Sandboxes outlive the snapgate that
# started them, and so do their disks, mounted over their snapshots'
# directories: a tool that removes such containers without snapgate (ctr,
# a test's clean-up) must release them first, or the snapshots cannot be
# removed. Lazy unmounts: a live sandbox keeps its file system until it
# exits. Needs root.
set -euo pipefail
[ $# -eq 2 ] && [ "$1" = release ] || { echo "usage: $0 release DIR" >&2; exit 2; }
dir=$(realpath -m "$2")
for f in /sys/block/loop*/loop/backing_file; do
	[ -r "$f" ] || continue
	back=$(cat "$f")
	back=${back% (deleted)}
	case "$back" in "$dir"/*) ;; *) continue ;; esac
	devno=$(cat "${f%/loop/backing_file}/dev")
	awk -v d="$devno" '$3 == d { print $5 }' /proc/self/mountinfo | while read -r m; do
		umount -l "$m" || true
	done
done
