#!/bin/bash
# Conformance: run libiscsi's iscsi-test-cu against a live vstord, once with
# a RAM LUN and once with a file LUN, and count real passes, failures and
# skips per family (iSCSI, SCSI).
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
PORT=${VSTOR_CONFORMANCE_PORT:-3261}
MIN_SCSI_PASS=${MIN_SCSI_PASS:-190}
BACKENDS=${VSTOR_CONFORMANCE_BACKENDS:-ram file}
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
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
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
	# LUN 0: the disk under test.  LUN 1: write-protected, for ReadOnlySBC
	# (RAM in both runs: a read-only file is opened O_RDONLY and then
	# offers no UNMAP, which makes that test skip).
	local ro='{ "lun": 1, "backend": "ram", "size": "64M", "readonly": true }'
	case "$1" in
	ram)  lun="{ \"lun\": 0, \"backend\": \"ram\", \"size\": \"1G\" }, $ro" ;;
	file) lun="{ \"lun\": 0, \"backend\": \"file\", \"path\": \"$tmp/disk.img\", \"size\": \"1G\", \"create\": true }, $ro" ;;
	esac
	cat >"$tmp/$1.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [ $lun ] } ] }
JSON
}

start_vstord() {   # backend
	rm -f "$tmp/disk.img"
	write_config "$1"
	"$VSTORD" -c "$tmp/$1.json" >"$OUT/vstord-$1.log" 2>&1 &
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

# SCSI.ReadOnly.ReadOnlySBC needs a write-protected LUN and skips on LUN 0;
# run it again on LUN 1 (readonly) and take that verdict instead.
readonly_rerun() {   # results-file backend
	local name=SCSI.ReadOnly.ReadOnlySBC rolog="$OUT/$2-SCSI-readonly.txt" verdict
	grep -q "^$name SKIP" "$1" || return 0
	timeout "$TEST_TIMEOUT" iscsi-test-cu --dataloss --initiator-name "$INIT1" \
		--initiator-name-2 "$INIT2" --test="$name" "iscsi://127.0.0.1:$PORT/$IQN/1" \
		>"$rolog" 2>&1
	verdict=$(classify SCSI "$rolog" | grep "^$name ")
	[ -n "$verdict" ] || verdict="$name FAIL (no result on read-only LUN 1; see $rolog)"
	case $verdict in
	*" FAIL "*) verdict="$verdict (on read-only LUN 1)" ;;
	esac
	grep -v "^$name " "$1" >"$1.tmp"
	echo "$verdict" >>"$1.tmp"
	mv "$1.tmp" "$1"
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
			readonly_rerun "$res" "$backend"
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
done

cat >"$OUT/summary.env" <<ENV
CONFORMANCE_PASSED=$total_pass
CONFORMANCE_FAILED=$total_fail
CONFORMANCE_SKIPPED=$total_skip
CONFORMANCE_OK=$((bad == 0))
ENV
echo "conformance: $total_pass passed, $total_fail failed, $total_skip skipped (results in $OUT)"
exit "$bad"
