#!/bin/bash
# The first command builds the whole tool set: scripts/run.sh builds
# vstorctl next to vstord and says where both are, so the README's vstorctl
# examples work after it.  (run.sh owns build/; this removes its vstorctl
# and lets run.sh bring it back, serving nothing: --version ends vstord.)
. "$(dirname "$0")/lib/common.sh" "$@"

rm -f "$E2E_ROOT/build/vstorctl"
out=$("$E2E_ROOT/scripts/run.sh" --version 2>&1) || fail "run.sh --version failed: $out"
[ -x "$E2E_ROOT/build/vstorctl" ] || fail "run.sh did not build build/vstorctl"
"$E2E_ROOT/build/vstorctl" --version >/dev/null || fail "build/vstorctl --version failed"
grep -q "build/vstorctl" <<<"$out" || fail "run.sh does not say where vstorctl is: $out"
grep -q "^vstord " <<<"$out" || fail "run.sh did not run build/vstord: $out"
pass "run.sh builds build/vstord and build/vstorctl"
