#!/bin/bash
# The second command: install what is missing, build (normal, ASan+UBSan,
# ThreadSanitizer, libFuzzer), run the unit tests under the sanitizers (the
# port and vdisk ones under TSan too), each fuzz target for a bounded time,
# the conformance suite, the end-to-end tests, the Debian packages (built,
# installed, served from, purged) and the QEMU guest tests of kernel
# clients (tests/vm/).
# Prints "N passed, N failed, N skipped" at the end; exits non-zero if
# anything failed.
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

# Count a ctest log ("95% tests passed, 1 tests failed out of 20") as
# passed/failed/skipped under `name`.
ctest_results() {   # log, name
	local log=$1 name=$2 line nfail ntotal nskip
	line=$(grep -E '[0-9]+ tests failed out of [0-9]+' "$log" | tail -1)
	if [ -z "$line" ]; then
		bad "$name (no results)"
		return
	fi
	nfail=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
	ntotal=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
	nskip=$(grep -c 'Not Run\|\*\*\*Skipped' "$log")
	ok "$name" $((ntotal - nfail - nskip))
	skipped=$((skipped + nskip))
	[ "$nfail" -gt 0 ] && bad "$name" "$nfail"
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
if build build -DCMAKE_BUILD_TYPE=RelWithDebInfo; then ok; else bad "build"; fi

stage "build with ASan+UBSan (build-asan/)"
if build build-asan -DCMAKE_BUILD_TYPE=Debug -DVSTOR_SANITIZE=ON; then
	ok
	stage "unit tests (ASan+UBSan)"
	ctest --test-dir build-asan -L unit --output-on-failure -j"$JOBS" | tee build-asan/unit.log
	ctest_results build-asan/unit.log unit
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
	ok
	stage "unit tests (ThreadSanitizer)"
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
		ctest --test-dir build-tsan -L unit --output-on-failure -j"$JOBS" |
		tee build-tsan/unit.log
	ctest_results build-tsan/unit.log "unit (TSan)"
else
	bad "build-tsan"
fi

stage "fuzz targets (${FUZZ_SECONDS}s each)"
if [ "${VSTOR_SKIP_FUZZ:-0}" = 1 ]; then
	skipped=$((skipped + 1))
elif TARGETS=$(for f in fuzz/fuzz_*.c; do basename "$f" .c; done) CC=clang \
	build build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVSTOR_FUZZ=ON -DVSTOR_TESTS=OFF; then
	for src in fuzz/fuzz_*.c; do
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
		# Unlisted skips, a too-low pass count or an unclean exit.
		[ "$crc" -ne 0 ] && [ "$CONFORMANCE_FAILED" -eq 0 ] && bad "conformance (see above)"
	else
		bad "conformance (no results)"
	fi
fi

stage "end-to-end tests"
# Memory figures are taken on the Release build (ram_memory.sh).
[ -x build/vstord ] && export VSTOR_RELEASE_VSTORD=$PWD/build/vstord
for t in tests/e2e/*.sh; do
	[ -e "$t" ] || continue
	"$t" "$VSTORD" "$(dirname "$VSTORD")"
	case $? in
	0)  ok ;;
	77) skipped=$((skipped + 1)) ;;
	*)  bad "$(basename "$t")" ;;
	esac
done

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
	ctest --test-dir "$(dirname "$VSTORD")" -L vm --output-on-failure |
		tee "$(dirname "$VSTORD")/vm.log"
	ctest_results "$(dirname "$VSTORD")/vm.log" vm
fi

finish
