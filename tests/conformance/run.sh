#!/bin/bash
# Conformance: run libiscsi's iscsi-test-cu against a live vstord, once with
# a RAM LUN, once with a file LUN, once with an RBD LUN on a throw-away
# Ceph cluster (tests/lib/ceph_cluster.sh), once with an NBD LUN (the nbd
# backend over nbdkit's memory plugin, started here) and once with LUNs a
# service process serves (the disk-mode RAM disk example) and once with a
# mirror of two file legs (1 GiB in all, to show a volume answers as a plain
# file LUN does), and count real passes, failures and skips per family
# (iSCSI, SCSI).  VSTOR_CONFORMANCE_BACKENDS picks the runs; it may also
# name the volumes concat and stripe, built the same way.
#
#   tests/conformance/run.sh [VSTORD] [OUTDIR]
#
# VSTORD defaults to build/vstord, OUTDIR to build/conformance.  Per-family
# console logs go to OUTDIR/<backend>-<family>.txt, lists of failed and
# skipped tests to OUTDIR/<backend>-<family>.failed / .skipped, and the
# totals to OUTDIR/summary.env (sourced by scripts/test.sh).
#
# Fails if any test fails, if a test is skipped that tests/conformance/
# README.md does not list with its reason, if fewer than MIN_SCSI_PASS SCSI
# tests really pass on a backend, or if a family did not run exactly the
# tests it has: CUnit's summary must say every suite set up and every test
# ran (Total = Ran, no suite failed), the count must be the family's own
# (EXPECT_TESTS), and iscsi-test-cu's exit status must match its verdicts.
#
# libiscsi reports a skipped test as "[SKIPPED]" but CUnit counts it as
# passed, so passes are counted only for tests that printed no [SKIPPED].
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
VSTORD=${1:-${VSTORD:-$root/build/vstord}}
OUT=${2:-$root/build/conformance}
PORT=${VSTOR_CONFORMANCE_PORT:-$((3261 + ${VSTOR_PORT_OFFSET:-0}))}
MIN_SCSI_PASS=${MIN_SCSI_PASS:-190}
BACKENDS=${VSTOR_CONFORMANCE_BACKENDS:-ram file rbd nbd crypt service mirror}
FAMILIES=${VSTOR_CONFORMANCE_FAMILIES:-iSCSI SCSI}
IQN=iqn.2026-11.org.vstor:conformance
INIT1=iqn.2026-11.org.vstor:test-init1
INIT2=iqn.2026-11.org.vstor:test-init2
TEST_TIMEOUT=${VSTOR_CONFORMANCE_TIMEOUT:-900}
# Tests per family in iscsi-test-cu (libiscsi 1.19, Debian 12).  A suite
# whose set-up fails (a refused login) runs none of its tests and CUnit
# still prints "passed" for the rest: the exact count catches that, and a
# libiscsi with other tests is noticed rather than silently counted.
declare -A EXPECT_TESTS=([iSCSI]=15 [SCSI]=215)
VSTORCTL=${VSTORCTL:-$(dirname "$VSTORD")/vstorctl}
# A JSON array of filters for LUN 0 and LUN 2 (the disks under test), e.g.
# '[{"name": "throttle", "iops": "20k"}]': the same suite through a stack.
FILTERS=${VSTOR_CONFORMANCE_FILTERS:-}
# Where the file LUNs' images go.  /tmp is a disk on most machines; with
# VSTOR_CONFORMANCE_TMPDIR=/dev/shm the file backend serves them from tmpfs,
# where it lends its pages to reads (src/backends/file_map.c) and iSCSI sends
# Data-In straight from the mapping: the suite then checks that path.
TMPBASE=${VSTOR_CONFORMANCE_TMPDIR:-/tmp}
# The service run: the disk-mode RAM disk example, a service process
# (doc/services.md), serves the three LUNs instead of vstord.
RAMDISK=${RAMDISK:-$(dirname "$VSTORD")/examples/ramdisk}
svc_pid=

if ! command -v iscsi-test-cu >/dev/null; then
	echo "conformance: iscsi-test-cu not found (apt-get install libiscsi-bin)" >&2
	exit 1
fi
if [ ! -x "$VSTORD" ] || [ ! -x "$VSTORCTL" ]; then
	echo "conformance: $VSTORD or $VSTORCTL not found; build first" >&2
	exit 1
fi
mkdir -p "$OUT"
tmp=$(mktemp -d "$TMPBASE/vstor-conformance.XXXXXX")
pid=
nbd_pids=()
stop_nbdkit() {
	local p
	for p in "${nbd_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	nbd_pids=()
}
cleanup() {
	if [ -n "$svc_pid" ] && kill -0 "$svc_pid" 2>/dev/null; then
		kill -TERM "$svc_pid" 2>/dev/null
		wait "$svc_pid" 2>/dev/null
	fi
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	stop_nbdkit
	ceph_cluster_down
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
. "$root/tests/lib/ceph_cluster.sh"

# README.md's exact counts for a backend and family, "PASSED SKIPPED", from
# rows "| backend | family | passed | skipped |"; nothing if not listed.
expected_counts() {   # backend family
	awk -F'|' -v b="$1" -v f="$2" '
		{ for (i = 2; i <= 5; i++) gsub(/^ +| +$/, "", $i) }
		$2 == b && $3 == f && $4 ~ /^[0-9]+$/ && $5 ~ /^[0-9]+$/ { print $4, $5; exit }
	' "$here/README.md"
}

# Test names README.md lists as expected skips: lines "| Family.Suite.Test |".
allowed_skips() {
	grep -oE '^\| *`?(iSCSI|SCSI)\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+`? *\|' "$here/README.md" 2>/dev/null |
		tr -d '|` ' | sort -u
}

# volume TYPE NAME: a volume of two file legs NAME-a.img, NAME-b.img
volume() {
	local size=512M opts=""
	case "$1" in
	mirror) size=1G opts="\"meta\": \"$tmp/$2.map\", \"assume_clean\": true," ;;
	stripe) opts="\"chunk\": \"64K\"," ;;
	esac
	echo "{ \"type\": \"$1\", $opts \"legs\": [
	  { \"backend\": \"file\", \"path\": \"$tmp/$2-a.img\", \"size\": \"$size\", \"create\": true },
	  { \"backend\": \"file\", \"path\": \"$tmp/$2-b.img\", \"size\": \"$size\", \"create\": true } ] }"
}

write_config() {   # backend → config file
	local lun
	# LUN 0: the disk under test, removable (see README.md: the PREVENT
	# ALLOW / START STOP LOEJ / NoMedia tests only run on removable media).
	# LUN 1: write-protected, for ReadOnlySBC (RAM in both runs: a
	# read-only file is opened O_RDONLY and then offers no UNMAP, which
	# makes that test skip).  LUN 2: the same backend as LUN 0 with 4096-byte
	# physical blocks over 512-byte logical blocks, for the tests that need
	# more than one logical block per physical block (PHYS_TESTS).
	local ro='{ "lun": 1, "backend": "ram", "size": "64M", "readonly": true }'
	case "$1" in
	ram)
		lun="{ \"lun\": 0, \"backend\": \"ram\", \"size\": \"1G\", \"removable\": true }, $ro,
		     { \"lun\": 2, \"backend\": \"ram\", \"size\": \"1G\", \"physical_block_size\": 4096 }" ;;
	file)
		lun="{ \"lun\": 0, \"backend\": \"file\", \"path\": \"$tmp/disk.img\", \"size\": \"1G\", \"create\": true, \"removable\": true }, $ro,
		     { \"lun\": 2, \"backend\": \"file\", \"path\": \"$tmp/disk2.img\", \"size\": \"1G\", \"create\": true, \"physical_block_size\": 4096 }" ;;
	service)
		# the same three LUNs, attached by the RAM disk service
		# (start_service) rather than configured
		lun= ;;
	concat | stripe | mirror)
		# volumes over two file legs, 1 GiB in all as the file LUN
		lun="{ \"lun\": 0, \"volume\": $(volume "$1" disk), \"removable\": true }, $ro,
		     { \"lun\": 2, \"volume\": $(volume "$1" disk2), \"physical_block_size\": 4096 }" ;;
	crypt)
		# the file LUNs under a stack of filters, crypt over throttle
		# (issue 11: the same counts as a plain file LUN), the throttle
		# at limits the suite reaches only now and then
		head -c 64 /dev/urandom >"$tmp/crypt.key"
		local f="\"filters\": [{ \"name\": \"crypt\", \"key_file\": \"$tmp/crypt.key\" },
		                      { \"name\": \"throttle\", \"iops\": \"20k\", \"bps\": \"400M\" }]"
		lun="{ \"lun\": 0, \"backend\": \"file\", \"path\": \"$tmp/disk.img\", \"size\": \"1G\", \"create\": true, \"removable\": true, $f }, $ro,
		     { \"lun\": 2, \"backend\": \"file\", \"path\": \"$tmp/disk2.img\", \"size\": \"1G\", \"create\": true, \"physical_block_size\": 4096, $f }" ;;
	rbd)
		# new images on the cluster, as the cephx user client.vstor
		local r="\"backend\": \"rbd\", \"conf\": \"$CEPH_CONF\", \"id\": \"vstor\", \"keyring\": \"$CEPH_DIR/client.vstor.keyring\", \"create\": true, \"size\": \"1G\""
		lun="{ \"lun\": 0, $r, \"image\": \"conformance0\", \"removable\": true }, $ro,
		     { \"lun\": 2, $r, \"image\": \"conformance2\", \"physical_block_size\": 4096 }" ;;
	nbd)
		# the nbd backend, one nbdkit (memory plugin) per LUN (start_nbdkit)
		lun="{ \"lun\": 0, \"backend\": \"nbd\", \"uri\": \"nbd+unix:///?socket=$tmp/nbd0.sock\", \"removable\": true }, $ro,
		     { \"lun\": 2, \"backend\": \"nbd\", \"uri\": \"nbd+unix:///?socket=$tmp/nbd2.sock\", \"physical_block_size\": 4096 }" ;;
	esac
	if [ -n "$FILTERS" ]; then
		lun=$(python3 -c '
import json, sys
luns = json.loads("[" + sys.argv[1] + "]")
for l in luns:
    if l["lun"] != 1:
        l["filters"] = json.loads(sys.argv[2])
print(json.dumps(luns)[1:-1])' "$lun" "$FILTERS") || return 1
	fi
	# NOP-In every 30 s, 120 s to answer: SCSI.Sanitize.Reset stops reading
	# its socket for 60 s while it waits for the sanitize (README.md).
	cat >"$tmp/$1.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "iscsi": { "nop_interval_ms": 30000, "nop_timeout_ms": 120000 },
  "targets": [ { "iqn": "$IQN", "luns": [ $lun ] } ] }
JSON
}

# The NBD LUNs' servers: nbdkit's memory plugin (1 GiB, sparse), one per
# LUN, on Unix sockets in $tmp; ready once its pid file is written.
start_nbdkit() {
	local i
	if ! command -v nbdkit >/dev/null; then
		echo "conformance: nbdkit not found (apt-get install nbdkit)" >&2
		return 1
	fi
	for i in 0 2; do
		rm -f "$tmp/nbd$i.sock" "$tmp/nbd$i.pid"
		nbdkit -U "$tmp/nbd$i.sock" -P "$tmp/nbd$i.pid" -f memory 1G \
			>>"$OUT/nbdkit.log" 2>&1 &
		nbd_pids+=($!)
	done
	for _ in $(seq 100); do
		[ -s "$tmp/nbd0.pid" ] && [ -s "$tmp/nbd2.pid" ] && return 0
		sleep 0.1
	done
	echo "conformance: nbdkit did not start; see $OUT/nbdkit.log" >&2
	return 1
}

start_vstord() {   # backend
	rm -f "$tmp"/disk*.img "$tmp"/disk*.map
	if [ "$1" = nbd ]; then
		start_nbdkit || return 1
	fi
	if [ "$1" = rbd ] && [ -z "$CEPH_DIR" ]; then
		# SANITIZE overwrites the whole LUN: room for both 1 GiB images
		CEPH_MEMSTORE_BYTES=$((4 << 30)) ceph_cluster_up "$tmp/ceph" ||
			{ echo "conformance: no Ceph cluster for the rbd run" >&2; return 1; }
	fi
	write_config "$1"
	# own control socket: another vstord on this host keeps its default one
	"$VSTORD" -c "$tmp/$1.json" -s "$tmp/ctl.sock" -S "$tmp/svc.sock" >"$OUT/vstord-$1.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "conformance: vstord exited at start-up; see $OUT/vstord-$1.log:" >&2
			tail -5 "$OUT/vstord-$1.log" >&2
			pid=
			return 1
		fi
		if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
			[ "$1" = service ] || return 0
			start_service
			return
		fi
		sleep 0.1
	done
	echo "conformance: vstord did not listen on 127.0.0.1:$PORT within 10 s" >&2
	return 1
}

# The service run's LUNs: 0 removable, 1 write-protected, 2 with 4096-byte
# physical blocks, as the configured ones of the other runs.
start_service() {
	if [ ! -x "$RAMDISK" ]; then
		echo "conformance: $RAMDISK not built" >&2
		return 1
	fi
	"$RAMDISK" -s "$tmp/svc.sock" -t "$IQN" 0=1G,removable 1=64M,readonly 2=1G,phys=4096 \
		>"$OUT/ramdisk-service.log" 2>&1 &
	svc_pid=$!
	for _ in $(seq 100); do
		if [ "$("$VSTORCTL" --socket "$tmp/ctl.sock" --json lun list | grep -o '"service"' | wc -l)" -ge 3 ]; then
			return 0
		fi
		kill -0 "$svc_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "conformance: the RAM disk service did not attach its LUNs; see $OUT/ramdisk-service.log" >&2
	return 1
}

stop_vstord() {   # backend → 0 if vstord exited 0 after SIGTERM
	local rc
	if [ -n "$svc_pid" ]; then
		kill -TERM "$svc_pid" 2>/dev/null
		if ! wait "$svc_pid"; then
			echo "conformance: the RAM disk service did not exit 0; see $OUT/ramdisk-service.log" >&2
			svc_pid=
			kill -TERM "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			pid=
			return 1
		fi
		svc_pid=
	fi
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "conformance: vstord ($1) did not stop within 30 s of SIGTERM" >&2
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		pid=
		return 1
	fi
	wait "$pid"
	rc=$?
	pid=
	if [ "$rc" -ne 0 ]; then
		echo "conformance: vstord ($1) exited $rc after SIGTERM; see $OUT/vstord-$1.log" >&2
		return 1
	fi
}

# Parse iscsi-test-cu's verbose console output: "Suite: S", then per test
# "  Test: T ..." followed by the test's own log lines and "passed" or
# "FAILED".  Writes "NAME STATUS REASON" lines (STATUS: PASS / FAIL / SKIP;
# REASON: the first [SKIPPED] or [FAILED] message, if any).
classify() {   # family logfile
	awk -v fam="$1" '
	function flush(   status) {
		if (test == "") return
		status = result == "" ? "FAIL" : result
		if (status == "PASS" && skipped) status = "SKIP"
		if (status == "FAIL" && reason == "") reason = (result == "" ? "(no result: crashed or hung?)" : "(see the log)")
		printf "%s.%s.%s %s %s\n", fam, suite, test, status, (status == "PASS" ? "" : reason)
		test = ""
	}
	function note(line) {
		if (reason != "") return
		if (match(line, /\[(SKIPPED|FAILED)\].*/)) {
			reason = substr(line, RSTART, RLENGTH)
			gsub(/[ \t]+$/, "", reason)
		}
	}
	# CUnit prints "passed" / "FAILED" right after "..." or at the start of
	# a line; text after it on the same line comes from the suite clean-up
	# or the next set-up, not from this test.
	function verdict(line) {
		if (line ~ /(^|\.\.\.)passed/) result = "PASS"
		else if (line ~ /(^|\.\.\.)FAILED/) result = "FAIL"
	}
	/^Suite: / { flush(); suite = $2; next }
	/^Run Summary:/ { flush(); next }
	/^  Test: / {
		flush()
		line = $0; sub(/^  Test: /, "", line); split(line, w, " "); test = w[1]
		skipped = 0; reason = ""; result = ""
		rest = substr(line, length(test) + 1)
		verdict(rest)
		if (result == "") {
			if (rest ~ /\[SKIPPED\]/) skipped = 1
			note(rest)
		}
		next
	}
	test == "" { next }
	result == "" && /^(passed|FAILED)/ { verdict($0); next }
	result == "" && /\[SKIPPED\]/ { skipped = 1 }
	result == "" { note($0); next }
	# After FAILED, CUnit lists the failed assertions: "    1. file.c:71  - CU_..."
	result == "FAIL" && reason == "" && /^ +[0-9]+\. / { reason = $0; sub(/^ +/, "", reason) }
	END { flush() }
	' "$2"
}

count() {   # counts of $res → pass fail skip
	pass=$(awk '$2 == "PASS"' "$res" | wc -l)
	fail=$(awk '$2 == "FAIL"' "$res" | wc -l)
	skip=$(awk '$2 == "SKIP"' "$res" | wc -l)
}

# A test that skips on LUN 0 because it needs another kind of LUN runs
# again on a LUN configured for it, and that verdict counts:
#  - SCSI.ReadOnly.ReadOnlySBC needs a write-protected LUN: LUN 1;
#  - PHYS_TESTS need LOGICAL BLOCKS PER PHYSICAL BLOCK > 1: LUN 2.
PHYS_TESTS="SCSI.CompareAndWrite.InvalidDataOutSize SCSI.WriteSame10.UnmapUnaligned
SCSI.WriteSame10.InvalidDataOutSize SCSI.WriteSame16.UnmapUnaligned
SCSI.WriteSame16.InvalidDataOutSize"
lun_rerun() {   # results-file backend lun why test...
	local res=$1 backend=$2 lun=$3 why=$4 name log verdict
	shift 4
	for name in "$@"; do
		grep -q "^$name SKIP" "$res" || continue
		log="$OUT/$backend-$name-lun$lun.txt"
		timeout "$TEST_TIMEOUT" iscsi-test-cu --dataloss --initiator-name "$INIT1" \
			--initiator-name-2 "$INIT2" --test="$name" "iscsi://127.0.0.1:$PORT/$IQN/$lun" \
			>"$log" 2>&1
		verdict=$(classify SCSI "$log" | grep "^$name ")
		[ -n "$verdict" ] || verdict="$name FAIL (no result on $why LUN $lun; see $log)"
		case $verdict in
		*" FAIL "* | *" SKIP "*) verdict="$verdict (on $why LUN $lun)" ;;
		esac
		grep -v "^$name " "$res" >"$res.tmp"
		echo "$verdict" >>"$res.tmp"
		mv "$res.tmp" "$res"
	done
}

# RESERVATION CONFLICT answers of LUN 0 so far (vstorctl stats).
conflicts() {
	"$VSTORCTL" --socket "$tmp/ctl.sock" --json stats --target "$IQN" --lun 0 |
		sed -n 's/.*"reservation_conflicts": *\([0-9]*\).*/\1/p'
}

# Watch a family's log while iscsi-test-cu writes it (unbuffered) and note
# the RESERVATION CONFLICT count when SCSI.Sanitize.Reset starts and when
# it has ended, in $OUT/<backend>-sanitize-reset.conflicts ("BEFORE AFTER").
watch_sanitize_reset() {   # log backend pid
	local log=$1 out="$OUT/$2-sanitize-reset.conflicts" pid=$3 before= state
	rm -f "$out"
	while kill -0 "$pid" 2>/dev/null; do
		state=$(awk '/^Suite: /{s = ($2 == "Sanitize")} s && /^  Test: Reset /{r = 1; next}
		             r && /^(Suite: |  Test: |Run Summary:)/{e = 1} END {print e ? "end" : r ? "run" : ""}' "$log")
		if [ -z "$before" ] && [ -n "$state" ]; then
			before=$(conflicts)
		fi
		if [ "$state" = end ]; then
			echo "$before $(conflicts)" >"$out"
			return
		fi
		sleep 0.2
	done
}

# A test whose failure in the full run comes from an earlier libiscsi test
# (not from the target) runs again on its own, and that verdict counts;
# README.md says why for each.  SCSI.Sanitize.Reset: in the full run,
# SCSI.Sanitize.Reservations leaves a RESERVE(6) held by the second
# (multipath) session, which stays logged in, so the SANITIZE that
# Sanitize.Reset sends gets RESERVATION CONFLICT (SPC-2 5.5.1).  Only that
# failure is excused: the LUN must have answered RESERVATION CONFLICT while
# Sanitize.Reset ran (watch_sanitize_reset), else the failure stands.
ISOLATED_TESTS="SCSI.Sanitize.Reset"
isolated_rerun() {   # results-file backend test...
	local res=$1 backend=$2 name log verdict url="iscsi://127.0.0.1:$PORT/$IQN/0" seen
	shift 2
	for name in "$@"; do
		grep -q "^$name FAIL" "$res" || continue
		seen=$(cat "$OUT/$backend-sanitize-reset.conflicts" 2>/dev/null)
		if ! [[ "$seen" =~ ^([0-9]+)\ ([0-9]+)$ ]] || [ "${BASH_REMATCH[2]}" -le "${BASH_REMATCH[1]}" ]; then
			echo "conformance: $backend: $name failed in the full run without the documented" \
				"RESERVATION CONFLICT (conflicts before/after: ${seen:-not seen}); not re-run" >&2
			continue
		fi
		log="$OUT/$backend-$name-alone.txt"
		timeout "$TEST_TIMEOUT" iscsi-test-cu --dataloss --allow-sanitize \
			--initiator-name "$INIT1" --initiator-name-2 "$INIT2" \
			--test="$name" "$url" "$url" >"$log" 2>&1
		verdict=$(classify SCSI "$log" | grep "^$name ")
		[ -n "$verdict" ] || verdict="$name FAIL (no result when run alone; see $log)"
		case $verdict in
		*" FAIL "* | *" SKIP "*) verdict="$verdict (run alone)" ;;
		esac
		grep -v "^$name " "$res" >"$res.tmp"
		echo "$verdict" >>"$res.tmp"
		mv "$res.tmp" "$res"
		echo "conformance: $backend: $name failed in the full run, $(cut -d' ' -f2 <<<"$verdict") alone (see README.md)"
	done
}

# CUnit's summary of a family's run against what it must say ("suites 47
# 47 n/a 0 0", "tests 215 215 211 4 0"; its Passed includes the skips):
# every suite set up, every test ran, the family's own number of tests,
# the counts parsed from the log, and an exit status that agrees (1 when a
# test failed, else 0; anything else: no verdict at all).
check_run() {   # backend family log rc   (pass/fail/skip: the parsed counts)
	local backend=$1 fam=$2 log=$3 rc=$4 want=${EXPECT_TESTS[$2]:-} ok=0
	local s_total s_ran s_failed s_inact t_total t_ran t_pass t_fail t_inact
	read -r _ s_total s_ran _ s_failed s_inact < <(grep -E '^ +suites +[0-9]+' "$log" | tail -1)
	read -r _ t_total t_ran t_pass t_fail t_inact < <(grep -E '^ +tests +[0-9]+' "$log" | tail -1)
	if [ -z "${t_inact:-}" ] || [ -z "${s_inact:-}" ]; then
		echo "conformance: $backend $fam: no CUnit run summary (exit $rc); see $log" >&2
		return 1
	fi
	if [ "$s_failed" != 0 ] || [ "$s_ran" != "$s_total" ] || [ "$s_inact" != 0 ]; then
		echo "conformance: $backend $fam: suites: $s_total, $s_ran ran, $s_failed failed to" \
			"set up, $s_inact inactive; see $log" >&2
		ok=1
	fi
	if [ "$t_ran" != "$t_total" ] || [ "$t_inact" != 0 ]; then
		echo "conformance: $backend $fam: tests: $t_ran of $t_total ran ($t_inact inactive); see $log" >&2
		ok=1
	fi
	if [ "$t_total" != "$want" ] || [ $((pass + fail + skip)) != "$want" ]; then
		echo "conformance: $backend $fam: $t_total tests in CUnit's summary, $((pass + fail + skip))" \
			"in the log, want exactly ${want:-?} (EXPECT_TESTS)" >&2
		ok=1
	fi
	if [ "$t_pass" != $((pass + skip)) ] || [ "$t_fail" != "$fail" ]; then
		echo "conformance: $backend $fam: parsed $pass+$skip passed/$fail failed," \
			"CUnit says $t_pass/$t_fail; see $log" >&2
		ok=1
	fi
	if [ "$rc" != $((fail > 0 ? 1 : 0)) ]; then
		echo "conformance: $backend $fam: iscsi-test-cu exited $rc with $fail failed tests" >&2
		ok=1
	fi
	return $ok
}

total_pass=0 total_fail=0 total_skip=0 bad=0
allowed=$(allowed_skips)
for backend in $BACKENDS; do
	if ! start_vstord "$backend"; then
		bad=1
		continue
	fi
	fams=$FAMILIES
	# the stack of filters is a disk matter: the SCSI family only
	[ "$backend" = crypt ] && [ -z "${VSTOR_CONFORMANCE_FAMILIES:-}" ] && fams=SCSI
	for fam in $fams; do
		log="$OUT/$backend-$fam.txt"
		url="iscsi://127.0.0.1:$PORT/$IQN/0"
		# -d / -S: the LUN is scratch, so destructive and SANITIZE tests may
		# run.  The URL twice: the MultipathIO suite opens a second I_T
		# nexus to the same LUN through it.  Unbuffered, so the log can be
		# watched as it grows.
		stdbuf -o0 -e0 timeout "$TEST_TIMEOUT" iscsi-test-cu --dataloss --allow-sanitize \
			--initiator-name "$INIT1" --initiator-name-2 "$INIT2" \
			--test="$fam" "$url" "$url" >"$log" 2>&1 &
		cu_pid=$!
		[ "$fam" = SCSI ] && watch_sanitize_reset "$log" "$backend" "$cu_pid"
		wait "$cu_pid"
		rc=$?
		classify "$fam" "$log" >"$OUT/$backend-$fam.results"
		res="$OUT/$backend-$fam.results"
		count
		check_run "$backend" "$fam" "$log" "$rc" || bad=1
		if [ "$fam" = SCSI ]; then
			lun_rerun "$res" "$backend" 1 read-only SCSI.ReadOnly.ReadOnlySBC
			# shellcheck disable=SC2086
			lun_rerun "$res" "$backend" 2 physical-block $PHYS_TESTS
			# shellcheck disable=SC2086
			isolated_rerun "$res" "$backend" $ISOLATED_TESTS
			count
		fi
		awk '$2 == "FAIL" { $2 = ""; print }' "$res" >"$OUT/$backend-$fam.failed"
		awk '$2 == "SKIP" { $2 = ""; print }' "$res" >"$OUT/$backend-$fam.skipped"
		printf 'conformance: %-4s %-5s %3d passed, %3d failed, %3d skipped\n' \
			"$backend" "$fam" "$pass" "$fail" "$skip"
		total_pass=$((total_pass + pass))
		total_fail=$((total_fail + fail))
		total_skip=$((total_skip + skip))
		if [ "$rc" -eq 124 ]; then
			echo "conformance: $backend $fam: iscsi-test-cu timed out after ${TEST_TIMEOUT}s" >&2
			bad=1
		elif [ "$((pass + fail + skip))" -eq 0 ]; then
			echo "conformance: $backend $fam: no test results (exit $rc); see $log" >&2
			tail -5 "$log" >&2
			bad=1
		fi
		if [ "$fail" -gt 0 ]; then
			sed 's/^/conformance:   FAILED /' "$OUT/$backend-$fam.failed"
			bad=1
		fi
		while read -r t why; do
			[ -z "$t" ] && continue
			if ! grep -qxF "$t" <<<"$allowed"; then
				echo "conformance:   SKIPPED $t (not listed in tests/conformance/README.md): $why"
				bad=1
			fi
		done <"$OUT/$backend-$fam.skipped"
		read -r want_pass want_skip < <(expected_counts "$backend" "$fam")
		if [ -n "${want_pass:-}" ] && { [ "$pass" != "$want_pass" ] || [ "$skip" != "$want_skip" ]; }; then
			echo "conformance: $backend $fam: $pass passed and $skip skipped, README.md expects" \
				"exactly $want_pass and $want_skip"
			bad=1
		fi
		if [ "$fam" = SCSI ] && [ "$pass" -lt "$MIN_SCSI_PASS" ]; then
			echo "conformance: $backend SCSI: $pass real passes, below the bar of $MIN_SCSI_PASS"
			bad=1
		fi
	done
	stop_vstord "$backend" || bad=1
	stop_nbdkit
done

cat >"$OUT/summary.env" <<ENV
CONFORMANCE_PASSED=$total_pass
CONFORMANCE_FAILED=$total_fail
CONFORMANCE_SKIPPED=$total_skip
CONFORMANCE_OK=$((bad == 0))
ENV
echo "conformance: $total_pass passed, $total_fail failed, $total_skip skipped (results in $OUT)"
exit "$bad"
