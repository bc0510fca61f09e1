# vstord for bench/compare (sourced).

VSTOR_PID=

# vstor_write_config FILE PORT IQN SIZE IMG [THREADS] — THREADS: event-loop
# threads (empty: vstord's default, one per CPU).
vstor_write_config() {
	local file=$1 port=$2 iqn=$3 size=$4 img=$5 threads=${6:-}
	cat >"$file" <<JSON
{
  "portals": ["127.0.0.1:$port"],${threads:+
  \"threads\": $threads,}
  "targets": [
    {
      "iqn": "$iqn",
      "luns": [
        { "lun": 0, "backend": "ram", "size": "$size" },
        { "lun": 1, "backend": "file", "path": "$img", "size": "$size", "create": true }
      ]
    }
  ]
}
JSON
}

# vstor_start BINARY CONFIG PORT LOG [WRAPPER...] — WRAPPER: a command
# vstord runs under, e.g. taskset -c 0.
vstor_start() {
	local bin=$1 cfg=$2 port=$3 logf=$4
	shift 4
	"$bin" --check -c "$cfg" >"$logf.check" 2>&1 ||
		die "vstord rejects the bench config: $(tail -1 "$logf.check")"
	# No control socket: the bench needs none, and a vstord of the machine
	# (or another bench) may own the default one.
	"$@" "$bin" -c "$cfg" --ctl-socket none >"$logf" 2>&1 &
	VSTOR_PID=$!
	wait_port "$port" "$VSTOR_PID" 10 || { tail -5 "$logf" >&2; die "vstord did not come up on 127.0.0.1:$port (log: $logf)"; }
}

vstor_stop() {
	[ -n "$VSTOR_PID" ] || return 0
	stop_pid "$VSTOR_PID" 10
	VSTOR_PID=
}
