#!/bin/bash
# A peer NBD server for tests/vm/nbd_kernel.sh: qemu-nbd over a sparse
# 256 MiB raw file, discards punched into the file (--discard=unmap),
# serving any number of connections one after another (-t, -e 4).
# Usage: qemu_nbd.sh PORT EXPORT DIR
set -eu
port=$1 export=$2 dir=$3
truncate -s 256M "$dir/disk.img"
exec qemu-nbd -f raw --cache=writeback --discard=unmap -t -e 4 -b 127.0.0.1 -p "$port" \
	-x "$export" "$dir/disk.img"
