#!/bin/bash
# Build the Debian packages (vstor, libvstor-dev) with
# `dpkg-buildpackage -us -uc -b` in a copy of this tree, so nothing is
# written beside the checkout: the .deb files end up in build-deb/.  Then
# lintian, which must find no error.  Install with
#   sudo apt-get install ./build-deb/vstor_*.deb
# Needs the build dependencies of debian/control and debhelper, lintian
# (`. scripts/lib/deps.sh; vs_install_deps --package` installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh

vs_install_deps --package
out=$PWD/build-deb
rm -rf "$out"
mkdir -p "$out/src"
# the tree as git sees it, uncommitted changes included, no build dirs
git ls-files -z --cached --others --exclude-standard |
	xargs -0 cp --parents -t "$out/src" 2>/dev/null ||
	{ echo "package: cannot copy the tree (not a git checkout?)" >&2; exit 1; }
(cd "$out/src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 ||
	{ tail -30 "$out/build.log" >&2; echo "package: dpkg-buildpackage failed (build-deb/build.log)" >&2; exit 1; }
ls "$out"/*.deb
lintian --fail-on error --suppress-tags-from-file /dev/null "$out"/*.changes >"$out/lintian.log" 2>&1 ||
	{ cat "$out/lintian.log" >&2; echo "package: lintian found errors" >&2; exit 1; }
echo "package: lintian: $(grep -c '^E:' "$out/lintian.log") errors, $(grep -c '^W:' "$out/lintian.log") warnings (build-deb/lintian.log)"
