#!/bin/bash
# Conformance: run libiscsi's iscsi-test-cu against a live vstord, once with
# a RAM LUN, once with a file LUN and once with an NBD LUN (nbdkit's memory
# plugin, started here), and count real passes, failures and skips per
# family (iSCSI, SCSI).
#
#   tests/conformance/run.sh [VSTORD] [OUTDIR]
#
# VSTORD defaults to build/vstord, OUTDIR to build/conformance.  Per-family
# console logs go to OUTDIR/<backend>-<family>.txt, lists of failed and
# skipped tests to OUTDIR/<backend>-<family>.failed / .skipped, and the
# totals to OUTDIR/summary.env (sourced by scripts/test.sh).
#
# Fails if any test fails, if a test is skipped that tests/conformance/
# README.md does not list with its reason, or if fewer than
# MIN_SCSI_PASS SCSI tests really pass on a backend.
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
BACKENDS=${VSTOR_CONFORMANCE_BACKENDS:-ram file nbd}
FAMILIES=${VSTOR_CONFORMANCE_FAMILIES:-iSCSI SCSI}
IQN=iqn.2026-11.org.vstor:conformance
INIT1=iqn.2026-11.org.vstor:test-init1
INIT2=iqn.2026-11.org.vstor:test-init2
TEST_TIMEOUT=${VSTOR_CONFORMANCE_TIMEOUT:-900}

if ! command -v iscsi-test-cu >/dev/null; then
	echo "conformance: iscsi-test-cu not found (apt-get install libiscsi-bin)" >&2
	exit 1
fi
if [ ! -x "$VSTORD" ]; then
	echo "conformance: $VSTORD not found; build first" >&2
	exit 1
fi
mkdir -p "$OUT"
tmp=$(mktemp -d /tmp/vstor-conformance.XXXXXX)
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
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	stop_nbdkit
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Test names README.md lists as expected skips: lines "| Family.Suite.Test |".
allowed_skips() {
	grep -oE '^\| *`?(iSCSI|SCSI)\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+`? *\|' "$here/README.md" 2>/dev/null |
		tr -d '|` ' | sort -u
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
	nbd)
		lun="{ \"lun\": 0, \"backend\": \"nbd\", \"uri\": \"nbd+unix:///?socket=$tmp/nbd0.sock\", \"removable\": true }, $ro,
		     { \"lun\": 2, \"backend\": \"nbd\", \"uri\": \"nbd+unix:///?socket=$tmp/nbd2.sock\", \"physical_block_size\": 4096 }" ;;
	esac
	# NOP-In every 30 s, 120 s to answer: SCSI.Sanitize.Reset stops reading
	# its socket for 60 s while it waits for the sanitize (README.md).
	cat >"$tmp/$1.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "iscsi": { "nop_interval_ms": 30000, "nop_timeout_ms": 120000 },
  "targets": [ { "iqn": "$IQN", "luns": [ $lun ] } ] }
JSON
}

# The NBD LUNs' server: nbdkit's memory plugin (1 GiB, sparse), one per LUN,
# on Unix sockets in $tmp; ready once its pid file is written.
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
	rm -f "$tmp/disk.img" "$tmp/disk2.img"
	if [ "$1" = nbd ]; then
		start_nbdkit || return 1
	fi
	write_config "$1"
	# own control socket: another vstord on this host keeps its default one
	"$VSTORD" -c "$tmp/$1.json" -s "$tmp/ctl.sock" >"$OUT/vstord-$1.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "conformance: vstord exited at start-up; see $OUT/vstord-$1.log:" >&2
			tail -5 "$OUT/vstord-$1.log" >&2
			pid=
			return 1
		fi
		if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "conformance: vstord did not listen on 127.0.0.1:$PORT within 10 s" >&2
	return 1
}

stop_vstord() {   # backend → 0 if vstord exited 0 after SIGTERM
	local rc
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

# A test whose failure in the full run comes from an earlier libiscsi test
# (not from the target) runs again on its own, and that verdict counts;
# README.md says why for each.  SCSI.Sanitize.Reset: in the full run,
# SCSI.Sanitize.Reservations leaves a RESERVE(6) held by the second
# (multipath) session, which stays logged in, so the SANITIZE that
# Sanitize.Reset sends gets RESERVATION CONFLICT (SPC-2 5.5.1).
ISOLATED_TESTS="SCSI.Sanitize.Reset"
isolated_rerun() {   # results-file backend test...
	local res=$1 backend=$2 name log verdict url="iscsi://127.0.0.1:$PORT/$IQN/0"
	shift 2
	for name in "$@"; do
		grep -q "^$name FAIL" "$res" || continue
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

total_pass=0 total_fail=0 total_skip=0 bad=0
allowed=$(allowed_skips)
for backend in $BACKENDS; do
	if ! start_vstord "$backend"; then
		bad=1
		continue
	fi
	for fam in $FAMILIES; do
		log="$OUT/$backend-$fam.txt"
		url="iscsi://127.0.0.1:$PORT/$IQN/0"
		# -d / -S: the LUN is scratch, so destructive and SANITIZE tests may
		# run.  The URL twice: the MultipathIO suite opens a second I_T
		# nexus to the same LUN through it.
		timeout "$TEST_TIMEOUT" iscsi-test-cu --dataloss --allow-sanitize \
			--initiator-name "$INIT1" --initiator-name-2 "$INIT2" \
			--test="$fam" "$url" "$url" >"$log" 2>&1
		rc=$?
		classify "$fam" "$log" >"$OUT/$backend-$fam.results"
		res="$OUT/$backend-$fam.results"
		count
		# Cross-check with CUnit's own summary ("tests  215  215  211  4  0"):
		# its Passed includes the skips.
		read -r _ _ _ cu_pass cu_fail _ < <(grep -E '^ +tests +[0-9]+' "$log" | tail -1)
		if [ -n "${cu_pass:-}" ] && { [ "$cu_pass" != $((pass + skip)) ] || [ "$cu_fail" != "$fail" ]; }; then
			echo "conformance: $backend $fam: parsed $pass+$skip passed/$fail failed," \
				"CUnit says $cu_pass/$cu_fail; see $log" >&2
			bad=1
		fi
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
