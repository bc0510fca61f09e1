#!/bin/bash
# Sourced by guest scripts (bash in the test guest, busybox for the rest).  The file-system
# round trip every block fabric's kernel test makes, over a device the
# caller attaches:
#   disk_attach   attach the disk, set DISK_DEV (e.g. /dev/nbd0)
#   disk_detach   detach it; the next disk_attach opens a new session
#   . /vm/lib/disk.sh; disk_exercise
# Writes are proven to have reached the server, not the guest's cache:
# the disk is detached and attached again (page cache dropped) before
# e2fsck and the checksum check.

step() { echo "guest: $*"; }
die() {
	echo "guest: FAIL: $*"
	exit 1
}

# Sizes are odd on purpose: partial blocks at every file's end.
DISK_BIG_FILES="1048573 4194319 8388617 16777259"
DISK_SMALL_FILES=${DISK_SMALL_FILES:-48}

disk_write_files() {   # mountpoint
	i=0
	for size in $DISK_BIG_FILES; do
		i=$((i + 1))
		head -c "$size" /dev/urandom >"$1/big$i" || die "writing $1/big$i"
	done
	mkdir -p "$1/small/a" "$1/small/b" || die "mkdir"
	i=0
	while [ "$i" -lt "$DISK_SMALL_FILES" ]; do
		head -c $((i * 1531 + 1)) /dev/urandom >"$1/small/$([ $((i % 2)) = 0 ] && echo a || echo b)/f$i" ||
			die "writing small file $i"
		i=$((i + 1))
	done
	# Every file's checksum, and the list of files, kept outside the disk.
	(cd "$1" && find . -type f | sort | xargs sha256sum) >/tmp/disk.sums || die "sha256sum"
	step "wrote $(wc -l </tmp/disk.sums) files, $(du -sk "$1" | cut -f1) KiB"
}

disk_verify_files() {   # mountpoint
	(cd "$1" && sha256sum -c /tmp/disk.sums >/tmp/disk.check 2>&1) ||
		{ grep -v ': OK$' /tmp/disk.check | head -20; die "checksums differ after reattaching"; }
	(cd "$1" && find . -type f | sort) >/tmp/disk.found
	sed 's/^[0-9a-f]*  //' /tmp/disk.sums | cmp -s - /tmp/disk.found ||
		die "the file list differs after reattaching"
	step "all $(wc -l </tmp/disk.sums) files verified by sha256"
}

# Any block-layer I/O error the kernel logged fails the test, even one an
# application never saw (page-cache writeback).
disk_no_io_errors() {
	if dmesg | grep -E 'I/O error|Buffer I/O|EXT4-fs error|nbd[0-9]*: Other side returned error'; then
		die "the kernel logged I/O errors (above)"
	fi
}

disk_drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

disk_exercise() {
	disk_attach || die "attach failed"
	[ -b "$DISK_DEV" ] || die "$DISK_DEV is not a block device"
	step "attached $DISK_DEV: $(blockdev --getsize64 "$DISK_DEV") bytes, logical block $(blockdev --getss "$DISK_DEV")"

	mkfs.ext4 -q -F "$DISK_DEV" || die "mkfs.ext4 $DISK_DEV"
	mkdir -p /mnt/disk
	mount -t ext4 "$DISK_DEV" /mnt/disk || die "mount"
	disk_write_files /mnt/disk
	# syncfs(2) reports a failed writeback; plain sync(2) does not.
	sync -f /mnt/disk || die "sync -f: writeback failed"
	disk_no_io_errors
	umount /mnt/disk || die "umount"
	step "written, synced and unmounted"

	disk_detach || die "detach failed"
	disk_drop_caches
	disk_attach || die "attach (second time) failed"
	step "reattached $DISK_DEV"

	e2fsck -fn "$DISK_DEV" >/tmp/fsck.log 2>&1 || { cat /tmp/fsck.log; die "e2fsck -fn found problems"; }
	step "e2fsck -fn clean: $(tail -1 /tmp/fsck.log)"
	mount -t ext4 "$DISK_DEV" /mnt/disk || die "mount (second time)"
	disk_verify_files /mnt/disk

	# Discard: free the big files and trim the free space, then discard
	# the whole device.  fstrim must have trimmed something (the device
	# advertises discard and the file system freed blocks).
	rm /mnt/disk/big* || die "rm"
	sync
	out=$(fstrim -v /mnt/disk 2>&1) || die "fstrim: $out"
	trimmed=$(echo "$out" | sed -n 's/.*(\([0-9]*\) bytes) trimmed.*/\1/p')
	[ -n "$trimmed" ] && [ "$trimmed" -gt 0 ] || die "fstrim trimmed nothing: $out"
	step "fstrim: $out"
	umount /mnt/disk || die "umount (second time)"
	blkdiscard -f "$DISK_DEV" || die "blkdiscard $DISK_DEV"
	step "blkdiscard of the whole device done"

	disk_detach || die "final detach failed"
	disk_no_io_errors
	step "detached"
}
