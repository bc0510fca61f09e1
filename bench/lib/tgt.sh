# tgt (the Linux SCSI target framework daemon) for bench/compare (sourced).
#
# A private tgtd: its own iSCSI portal and its own management socket
# (--control-port), so it never touches a tgtd the machine may already run.

TGT_PID=
TGT_CTL=

# tgt_start PORTAL_PORT CONTROL_PORT LOG
tgt_start() {
	local port=$1 ctl=$2 logf=$3
	TGT_CTL=$ctl
	tgtd -f --control-port "$ctl" --iscsi "portal=127.0.0.1:$port" >"$logf" 2>&1 &
	TGT_PID=$!
	wait_port "$port" "$TGT_PID" 10 || { tail -5 "$logf" >&2; die "tgtd did not come up on 127.0.0.1:$port (log: $logf)"; }
}

tgtadm_() { tgtadm --control-port "$TGT_CTL" --lld iscsi "$@"; }

# tgt_add_target TID IQN BACKING_FILE BSTYPE — the data LUN is LUN 1 (tgt
# keeps LUN 0 for its own controller device).
tgt_add_target() {
	local tid=$1 iqn=$2 file=$3 bstype=$4
	tgtadm_ --mode target --op new --tid "$tid" --targetname "$iqn" ||
		die "tgtadm: cannot create target $iqn"
	tgtadm_ --mode logicalunit --op new --tid "$tid" --lun 1 \
		--backing-store "$file" --bstype "$bstype" ||
		die "tgtadm: cannot add LUN 1 ($bstype on $file) to $iqn"
	tgtadm_ --mode target --op bind --tid "$tid" --initiator-address 127.0.0.1 ||
		die "tgtadm: cannot allow 127.0.0.1 on $iqn"
}

# tgtd ignores SIGTERM while targets exist: take it offline and delete the
# targets first, then stop the process by its PID.
tgt_stop() {
	[ -n "$TGT_PID" ] || return 0
	if kill -0 "$TGT_PID" 2>/dev/null; then
		tgtadm --control-port "$TGT_CTL" --mode sys --op update --name State --value offline >/dev/null 2>&1 || true
		local tid
		for tid in 1 2 3 4; do
			tgtadm_ --mode target --op delete --force --tid "$tid" >/dev/null 2>&1 || true
		done
		tgtadm --control-port "$TGT_CTL" --mode system --op delete >/dev/null 2>&1 || true
		stop_pid "$TGT_PID" 5
	fi
	TGT_PID=
}
