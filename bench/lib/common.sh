# Shared helpers for bench/compare (sourced, not run).

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf 'bench/compare: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages named that are not installed yet.
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root or install them first"
	log "installing: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null ||
		die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}

# Waits until something accepts TCP connections on 127.0.0.1:PORT, while
# process PID is alive. Returns non-zero after TIMEOUT seconds or if PID died.
wait_port() {
	local port=$1 pid=$2 timeout=${3:-10} i
	for ((i = 0; i < timeout * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# True if nothing listens on 127.0.0.1:PORT.
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# utime + stime of PID in clock ticks (proc(5) fields 14 and 15, counted
# after the ')' that closes the command name).
proc_cpu_ticks() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	stat=${stat##*) }
	# shellcheck disable=SC2086
	set -- $stat
	echo $(( ${12} + ${13} ))
}

# "STEAL ALL IDLE": the host's steal ticks, all CPU ticks and idle ticks
# (idle + iowait) so far, from the "cpu" line of /proc/stat (its 8th value,
# steal, is time the hypervisor gave our vCPUs to others: on a busy host
# IOPS swing by 2x between identical runs).
host_cpu_ticks() {
	awk 'NR == 1 { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t, $5 + $6 }' /proc/stat
}

# steal_pct STEAL0 ALL0: percent of CPU time stolen since that reading
steal_pct() {
	local s a
	read -r s a _ < <(host_cpu_ticks)
	awk -v s=$((s - $1)) -v a=$((a - $2)) 'BEGIN { printf "%.1f", a ? 100 * s / a : 0 }'
}

# Stops one process we started: SIGTERM, up to GRACE seconds, then SIGKILL.
stop_pid() {
	local pid=$1 grace=${2:-5} i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < grace * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	log "pid $pid ignored SIGTERM for ${grace}s; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
