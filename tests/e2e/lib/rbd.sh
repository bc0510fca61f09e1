#!/bin/bash
# Shared by tests/e2e/rbd_*.sh (after lib/common.sh): a throw-away Ceph
# cluster for the test (tests/lib/ceph_cluster.sh), torn down with the
# test's vstord on exit.
#   rbd_cluster_up          start it in $tmp/ceph (fails the test if it cannot)
#   rbd_lun LUN IMAGE [KEY=JSON...]   one LUN object for the config: the
#                           image in pool rbd, as the cephx user client.vstor
#   rbd_port N              iSCSI port N of the rbd tests' range (3510-3519,
#                           plus VSTOR_PORT_OFFSET)
#   rbd_client              the libiscsi helper (tests/e2e/rbd_client.c)
#   RBD_PIDS                more background processes of the test, killed
#                           (by PID) on exit
. "$E2E_ROOT/tests/lib/ceph_cluster.sh"

RBD_CLIENT=$BUILD/e2e/rbd_client
[ -x "$RBD_CLIENT" ] || fail "$RBD_CLIENT not built (libiscsi-dev missing?)"
grep -q '^  rbd: ' <<<"$("$VSTORD" --help)" ||
	fail "$VSTORD has no rbd backend (built without librbd-dev; apt-get install librbd-dev)"

rbd_port() { echo $((3510 + $1 + ${VSTOR_PORT_OFFSET:-0})); }

RBD_PIDS=()
rbd_cleanup() {
	local p
	for p in "${RBD_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	# vstord first: its client must not outlive the cluster it talks to
	if [ -n "$vstord_pid" ] && kill -0 "$vstord_pid" 2>/dev/null; then
		kill -KILL "$vstord_pid" 2>/dev/null
		wait "$vstord_pid" 2>/dev/null
	fi
	vstord_pid=
	ceph_cluster_down
	e2e_cleanup
}
trap rbd_cleanup EXIT

rbd_cluster_up() {
	ceph_cluster_up "$tmp/ceph" >"$tmp/ceph-up.log" 2>&1 ||
		fail "no Ceph cluster: $(tail -3 "$tmp/ceph-up.log")"
	cat "$tmp/ceph-up.log"
}

rbd_lun() {   # lun image [key=json ...]
	local lun=$1 image=$2 extra="" kv
	shift 2
	for kv in "$@"; do
		extra+=", \"${kv%%=*}\": ${kv#*=}"
	done
	printf '{ "lun": %s, "backend": "rbd", "pool": "rbd", "image": "%s", "conf": "%s", "id": "vstor", "keyring": "%s"%s }' \
		"$lun" "$image" "$CEPH_CONF" "$CEPH_DIR/client.vstor.keyring" "$extra"
}

rbd_client() { "$RBD_CLIENT" "$@"; }
