#!/bin/bash
# Shared by tests/e2e/backend_nbd_*.sh (after lib/common.sh): the NBD server
# under the nbd backend, and the ack_writer soak's checkpoints.
#   nbdkit_start IMAGE PORT  nbdkit serving IMAGE through its cache filter
#                            with cache=writeback (what it has not flushed
#                            dies with it) on 127.0.0.1:PORT; pid $nbd_pid
#   nbdkit_run PORT ARGS...  nbdkit with those plugin and filter arguments
#   nbdkit_stop SIGNAL       signal it and reap it
#   writer_checkpoint PID STOPFILE WHAT
#                            ask the soak writer PID to stop and read the
#                            LUN back (STOPFILE.check), and wait for it
nbd_pid=

nbdkit_stop() {
	[ -n "$nbd_pid" ] || return 0
	kill "-$1" "$nbd_pid" 2>/dev/null
	wait "$nbd_pid" 2>/dev/null
	nbd_pid=
}
trap 'nbdkit_stop KILL; e2e_cleanup' EXIT

nbdkit_run() {
	local port=$1
	shift
	command -v nbdkit >/dev/null || fail "nbdkit not installed (scripts/lib/deps.sh lists it)"
	rm -f "$tmp/nbdkit.pid"
	nbdkit -f -i 127.0.0.1 -p "$port" -P "$tmp/nbdkit.pid" "$@" >>"$tmp/nbdkit.log" 2>&1 &
	nbd_pid=$!
	for _ in $(seq 100); do
		[ -s "$tmp/nbdkit.pid" ] && return 0
		kill -0 "$nbd_pid" 2>/dev/null || break
		sleep 0.1
	done
	fail "nbdkit did not start on 127.0.0.1:$port: $(tail -3 "$tmp/nbdkit.log")"
}

nbdkit_start() {
	nbdkit_run "$2" --filter=cache file "$1" cache=writeback
}

writer_checkpoint() {
	local pid=$1 check=$2.check what=$3
	touch "$check"
	for _ in $(seq 600); do
		[ -e "$check" ] || break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null || fail "$what: the writer stopped"
	[ -e "$check" ] && fail "$what: no checkpoint within 60 s"
	return 0
}
