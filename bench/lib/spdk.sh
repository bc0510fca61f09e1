# SPDK's iscsi_tgt as a peer for bench/compare --spdk DIR (sourced).
#
# DIR holds a start script, `run.sh start PORT` (prints the PID of an
# iscsi_tgt serving iqn.2016-06.io.spdk:bench LUN 0 = a RAM "Malloc" bdev
# on 127.0.0.1:PORT, one reactor on CPU 0, JSON-RPC on
# $SPDK_STATE_DIR/spdk.sock) and `run.sh stop PID`.  We add LUN 1, an AIO
# bdev on a file in /dev/shm (the peer of vstor's file backend), over that
# RPC socket.
#
# Its reactor polls: it burns a whole core even when idle.  It is kept
# stopped (SIGSTOP) except during its own fill and runs (spdk_resume /
# spdk_pause), so it never takes CPU from the target being measured.

SPDK_PID=
SPDK_DIR=
SPDK_IQN=iqn.2016-06.io.spdk:bench

# spdk_rpc METHOD PARAMS_JSON — one JSON-RPC 2.0 call; dies on an error reply.
spdk_rpc() {
	local out
	out=$(python3 - "$SPDK_STATE_DIR/spdk.sock" "$1" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": sys.argv[2],
                      "params": json.loads(sys.argv[3])}).encode())
buf = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
    try:
        reply = json.loads(buf)
        break
    except ValueError:
        continue
print(json.dumps(reply))
PY
	) || die "SPDK RPC $1: no answer on $SPDK_STATE_DIR/spdk.sock"
	jq -e 'has("error") | not' >/dev/null <<<"$out" || die "SPDK RPC $1: $(jq -c .error <<<"$out")"
}

# spdk_start DIR PORT STATE_DIR AIO_FILE LOG — start it, add the AIO LUN,
# leave it paused.
spdk_start() {
	local dir=$1 port=$2 state=$3 aio=$4 logf=$5
	[ -x "$dir/run.sh" ] || die "--spdk: $dir/run.sh not found or not executable"
	SPDK_DIR=$dir
	export SPDK_STATE_DIR=$state
	SPDK_PID=$("$dir/run.sh" start "$port" 2>"$logf") ||
		{ tail -5 "$logf" >&2; die "SPDK's run.sh could not start iscsi_tgt on 127.0.0.1:$port (log: $logf)"; }
	[[ $SPDK_PID =~ ^[0-9]+$ ]] || die "SPDK's run.sh printed '$SPDK_PID', not a PID"
	wait_port "$port" "$SPDK_PID" 20 || die "iscsi_tgt did not come up on 127.0.0.1:$port"
	spdk_rpc bdev_aio_create "{\"name\": \"Aio0\", \"filename\": \"$aio\", \"block_size\": 512}"
	spdk_rpc iscsi_target_node_add_lun "{\"name\": \"$SPDK_IQN\", \"bdev_name\": \"Aio0\", \"lun_id\": 1}"
	spdk_pause
}

spdk_pause() { [ -z "$SPDK_PID" ] || kill -STOP "$SPDK_PID" 2>/dev/null || true; }
spdk_resume() { [ -z "$SPDK_PID" ] || kill -CONT "$SPDK_PID" 2>/dev/null || true; }

# True if PID is SPDK's (the only target that is paused between its runs).
spdk_is() { [ -n "$SPDK_PID" ] && [ "$1" = "$SPDK_PID" ]; }

spdk_stop() {
	[ -n "$SPDK_PID" ] || return 0
	# run.sh stop resumes it, stops it by PID and gives back the hugepages.
	"$SPDK_DIR/run.sh" stop "$SPDK_PID" >/dev/null 2>&1 || true
	wait "$SPDK_PID" 2>/dev/null || true
	SPDK_PID=
}
