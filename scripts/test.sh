#!/bin/bash
# The second command: install what is missing, build (normal, ASan+UBSan,
# ThreadSanitizer, libFuzzer), check the libraries' exported symbols, run
# the unit tests under the sanitizers (the port and vdisk ones under TSan
# too), each fuzz target for a bounded time,
# the conformance suite, the end-to-end tests, the Debian packages (built,
# installed, served from, purged) and the QEMU guest tests of kernel
# clients (tests/vm/).
# Prints "N passed, N failed, N skipped" at the end -- test cases, not
# builds: each cmocka case, fuzz target, conformance test and e2e script --
# and exits non-zero if anything failed, or if a stage ran fewer test cases
# than tests/expected-counts says it has (a test file no longer built or
# registered, a suite that stopped running) or left out a test program,
# fuzz target or script that is in the tree.
#
# Environment: FUZZ_SECONDS (default 30 per target), JOBS (default nproc),
# VSTOR_SKIP_CONFORMANCE=1 / VSTOR_SKIP_FUZZ=1 / VSTOR_SKIP_TSAN=1 /
# VSTOR_SKIP_PACKAGE=1 / VSTOR_SKIP_VM=1 to leave a stage out;
# VSTOR_VM_CACHE for the guest tests' download cache (default
# build/vm-cache).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh

JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
passed=0 failed=0 skipped=0
failures=()

stage() { printf '\n=== %s\n' "$*"; }
ok()    { passed=$((passed + ${2:-1})); }
bad()   { failed=$((failed + ${2:-1})); failures+=("$1"); }

finish() {
	echo
	if [ "${#failures[@]}" -gt 0 ]; then
		echo "Failed: ${failures[*]}"
	fi
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" -eq 0 ]
	exit $?
}

# The fewest test cases each stage has (tests/expected-counts: "STAGE N").
expected_count() {   # stage
	local n
	n=$(awk -v s="$1" '$1 == s { print $2 }' tests/expected-counts 2>/dev/null)
	echo "${n:-0}"
}

# A stage that ran fewer test cases than it has is a failure of its own.
check_count() {   # stage ran
	local want
	want=$(expected_count "$1")
	echo "$1: $2 test cases (at least $want expected)"
	if [ "$2" -lt "$want" ]; then
		echo "$1: ran $2 test cases, fewer than the $want of tests/expected-counts"
		bad "$1 (ran $2 of at least $want test cases)"
	fi
}

# Run the unit tests of a build (ctest label "unit", verbose, into
# DIR/unit.log) and count test cases: a cmocka program by its "[==========]
# N test(s) run." (which must match its "Running N test(s)"), any other
# test as one.  Every tests/unit/test_*.c must have run.  A failed program
# counts its failed cases, at least one.
unit_stage() {   # build-dir stage-name [ctest args...]
	local dir=$1 name=$2 log=$1/unit.log cases=0 num prog status decl ran pass t
	shift 2
	ctest --test-dir "$dir" -L unit -V -j"$JOBS" "$@" >"$log" 2>&1
	grep -E '^ *[0-9]+/[0-9]+ Test +#' "$log"
	# one line per test: NUMBER NAME STATUS RUNNING RAN PASSED
	awk '
	match($0, /^ *Start +[0-9]+: /) { n = $2; sub(/:$/, "", n); name[n] = $3; next }
	match($0, /^ *[0-9]+\/[0-9]+ Test +#[0-9]+: /) {
		n = $0; sub(/^[^#]*#/, "", n); sub(/:.*/, "", n)
		st[n] = ($0 ~ / Passed /) ? "pass" : ($0 ~ /Not Run|\*\*\*Skipped/) ? "skip" : "fail"
		next
	}
	match($0, /^[0-9]+: \[==========\] Running [0-9]+ test/) {
		n = $1; sub(/:$/, "", n); decl[n] += $4; cm[n] = 1; next
	}
	match($0, /^[0-9]+: \[==========\] [0-9]+ test\(s\) run\./) { n = $1; sub(/:$/, "", n); ran[n] += $3; next }
	match($0, /^[0-9]+: \[  PASSED  \] [0-9]+ test/) { n = $1; sub(/:$/, "", n); pass[n] += $5; next }
	END {
		for (n in name)
			printf "%s %s %s %s %d %d\n", n, name[n], st[n] == "" ? "fail" : st[n],
			       cm[n] ? decl[n] : "-", ran[n], pass[n]
	}' "$log" >"$log.cases"
	while read -r num prog status decl ran pass; do
		case $status in
		skip) skipped=$((skipped + 1)); continue ;;
		fail)
			echo "--- $name: $prog failed; its output (from $log):"
			grep "^$num: " "$log" | tail -60
			if [ "$decl" = "-" ] || [ "$decl" -le "$pass" ]; then
				t=1
			else
				t=$((decl - pass))
			fi
			[ "$decl" != "-" ] && ok "$name" "$pass"
			bad "$name: $prog" "$t"
			cases=$((cases + pass + t))
			continue ;;
		esac
		if [ "$decl" = "-" ]; then
			ok "$name"
			cases=$((cases + 1))
		elif [ "$ran" != "$decl" ] || [ "$pass" != "$decl" ]; then
			bad "$name: $prog ran $ran of its $decl test cases"
			cases=$((cases + decl))
		else
			ok "$name" "$ran"
			cases=$((cases + ran))
		fi
	done <"$log.cases"
	for t in tests/unit/test_*.c; do
		t=$(basename "$t" .c)
		grep -q "^[0-9]* $t " "$log.cases" || bad "$name: $t was not run (not registered with ctest?)"
	done
	check_count "$name" "$cases"
}

build() {   # dir, cmake args...  (TARGETS: optional list of targets)
	local dir=$1 targets=()
	shift
	if ! cmake -S . -B "$dir" "$@" >"$dir.cmake.log" 2>&1; then
		cat "$dir.cmake.log"
		return 1
	fi
	[ -n "${TARGETS:-}" ] && targets=(--target ${TARGETS})
	cmake --build "$dir" -j"$JOBS" "${targets[@]}" >"$dir.build.log" 2>&1 ||
		{ tail -40 "$dir.build.log"; return 1; }
}

stage "dependencies"
if ! vs_install_deps --test; then
	bad "dependencies"
	finish
fi

stage "build (build/)"
mkdir -p build build-asan build-tsan build-fuzz
# Builds are not test cases: a failed one is a failure, a good one counts
# nothing.
build build -DCMAKE_BUILD_TYPE=RelWithDebInfo || bad "build"

# Every symbol the libraries and plugins export carries vstor's prefix, so
# whoever links vstor cannot collide with it (issue 12, point 7): one test.
stage "exported symbols (scripts/check_symbols.sh)"
if scripts/check_symbols.sh build | tail -n 20; then ok; else bad "exported symbols"; fi

stage "build with ASan+UBSan (build-asan/)"
if build build-asan -DCMAKE_BUILD_TYPE=Debug -DVSTOR_SANITIZE=ON; then
	stage "unit tests (ASan+UBSan)"
	unit_stage build-asan unit
else
	bad "build-asan"
fi

# ThreadSanitizer: every connection's thread meets the others in the port's
# per-nexus queues and LUN-wide depth, vdisk's lock-free write gate, the
# fabric's loop mailboxes and stop flags, and the control plane; any data
# race TSan sees fails the test (halt_on_error).  tests/tsan.supp excuses
# only the RAM backend's data copy (overlapping writes race on a disk too).
stage "build with ThreadSanitizer (build-tsan/)"
if [ "${VSTOR_SKIP_TSAN:-0}" = 1 ]; then
	skipped=$((skipped + 1))
elif build build-tsan -DCMAKE_BUILD_TYPE=Debug -DVSTOR_TSAN=ON; then
	stage "unit tests (ThreadSanitizer)"
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
		unit_stage build-tsan unit-tsan
else
	bad "build-tsan"
fi

stage "fuzz targets (${FUZZ_SECONDS}s each)"
if [ "${VSTOR_SKIP_FUZZ:-0}" = 1 ]; then
	skipped=$((skipped + 1))
elif TARGETS=$(for f in fuzz/fuzz_*.c; do basename "$f" .c; done) CC=clang \
	build build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVSTOR_FUZZ=ON -DVSTOR_TESTS=OFF; then
	nfuzz=0
	for src in fuzz/fuzz_*.c; do
		nfuzz=$((nfuzz + 1))
		name=$(basename "$src" .c)
		bin=$(find build-fuzz -type f -name "$name" -perm -u+x | head -1)
		if [ -z "$bin" ]; then
			echo "fuzz: $name: not built"
			bad "$name"
			continue
		fi
		corpus=build-fuzz/corpus/$name
		mkdir -p "$corpus"
		seeds=()
		[ -d "fuzz/corpus/$name" ] && seeds=("fuzz/corpus/$name")
		if "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
			-artifact_prefix="build-fuzz/$name-" "$corpus" "${seeds[@]}" \
			>"build-fuzz/$name.log" 2>&1; then
			echo "fuzz: $name: $(grep -oE 'Done [0-9]+ runs' "build-fuzz/$name.log" | tail -1), no crash"
			ok
		else
			echo "fuzz: $name: FAILED (see build-fuzz/$name.log)"
			tail -20 "build-fuzz/$name.log"
			bad "$name"
		fi
	done
	check_count fuzz "$nfuzz"
else
	bad "build-fuzz"
fi

# The daemon under test: the sanitizer build, so a memory error or a leak
# at shutdown fails the run (vstord must exit 0 after SIGTERM).
VSTORD=build-asan/vstord
[ -x "$VSTORD" ] || VSTORD=build/vstord

stage "conformance (libiscsi iscsi-test-cu)"
if [ "${VSTOR_SKIP_CONFORMANCE:-0}" = 1 ]; then
	skipped=$((skipped + 1))
elif [ ! -x "$VSTORD" ]; then
	bad "conformance (no vstord)"
else
	rm -f build/conformance/summary.env
	tests/conformance/run.sh "$VSTORD" build/conformance
	crc=$?
	if [ -f build/conformance/summary.env ]; then
		# shellcheck disable=SC1091
		. build/conformance/summary.env
		ok conformance "$CONFORMANCE_PASSED"
		skipped=$((skipped + CONFORMANCE_SKIPPED))
		[ "$CONFORMANCE_FAILED" -gt 0 ] && bad "conformance" "$CONFORMANCE_FAILED"
		# Unlisted skips, a too-low pass count, a family that did not run
		# all its tests, or an unclean exit.
		[ "$crc" -ne 0 ] && [ "$CONFORMANCE_FAILED" -eq 0 ] && bad "conformance (see above)"
		check_count conformance \
			$((CONFORMANCE_PASSED + CONFORMANCE_FAILED + CONFORMANCE_SKIPPED))
	else
		bad "conformance (no results)"
	fi
fi

stage "end-to-end tests"
# Memory figures are taken on the Release build (ram_memory.sh).
[ -x build/vstord ] && export VSTOR_RELEASE_VSTORD=$PWD/build/vstord
ne2e=0
for t in tests/e2e/*.sh; do
	[ -e "$t" ] || continue
	ne2e=$((ne2e + 1))
	"$t" "$VSTORD" "$(dirname "$VSTORD")"
	case $? in
	0)  ok ;;
	77) skipped=$((skipped + 1)) ;;
	*)  bad "$(basename "$t")" ;;
	esac
done
check_count e2e "$ne2e"

# The Debian packages: built with dpkg-buildpackage (lintian: no errors),
# installed with apt-get, the installed vstord started on a test port and
# attached with iscsi-ls, then purged (tests/package/smoke.sh).
stage "Debian package (build, lintian, install, serve, purge)"
if [ "${VSTOR_SKIP_PACKAGE:-0}" = 1 ]; then
	skipped=$((skipped + 1))
elif scripts/package.sh; then
	ok
	if tests/package/smoke.sh build-deb; then ok; else bad "package smoke test"; fi
else
	bad "package build"
fi

# Kernel clients in a QEMU guest (TCG; Debian's kernel fetched once into
# the cache): a minute or more per test, one at a time.  Every missing
# piece fails, never skips: the dependencies stage installed them.
stage "VM guest tests (kernel clients, tests/vm/)"
if [ "${VSTOR_SKIP_VM:-0}" = 1 ]; then
	skipped=$((skipped + 1))
elif [ ! -x "$VSTORD" ]; then
	bad "vm (no vstord)"
else
	vmlog=$(dirname "$VSTORD")/vm.log
	ctest --test-dir "$(dirname "$VSTORD")" -L vm --output-on-failure | tee "$vmlog"
	# one test case per guest test
	nvm_pass=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed' "$vmlog")
	nvm_fail=$(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$vmlog" | grep -cv ' Passed')
	ok vm "$nvm_pass"
	[ "$nvm_fail" -gt 0 ] && bad vm "$nvm_fail"
	check_count vm $((nvm_pass + nvm_fail))
fi

finish
