#!/bin/bash
# Shared by tests/e2e/lib/common.sh and tests/vm/lib/vm.sh: after a failed
# test, keep a daemon's whole log and show what matters of it on stderr.

# show_daemon_log LOG KEEP_AS WHAT: copy LOG to KEEP_AS, then print its
# sanitizer report from the start (ASan/LSan/UBSan), else its last lines.
show_daemon_log() {
	local log=$1 keep=$2 what=$3
	[ -s "$log" ] || return 0
	mkdir -p "$(dirname "$keep")" 2>/dev/null && cp "$log" "$keep" 2>/dev/null &&
		echo "--- full $what log: $keep" >&2
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
		echo "--- sanitizer report:" >&2
		grep -m1 -A40 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" >&2
	else
		echo "--- $what log (last 20 lines):" >&2
		tail -20 "$log" >&2
	fi
}
