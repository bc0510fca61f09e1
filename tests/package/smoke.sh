#!/bin/bash
# The Debian packages, installed for real (scripts/package.sh builds them
# into build-deb/; test.sh's "Debian package" stage runs both), without
# systemd: apt-get install ./vstor_*.deb ./libvstor-dev_*.deb; the
# installed /usr/sbin/vstord checks the packaged /etc/vstor/vstord.json and,
# started on it on a test port, exports nothing; started on the packaged
# example it serves the default disk, which iscsi-ls attaches to and the
# installed vstorctl lists; the unit and the pkg-config file are in place;
# then apt-get purge removes everything again.
#   tests/package/smoke.sh [DEB_DIR]   (default build-deb)
set -uo pipefail
cd "$(dirname "$0")/../.."
DEBS=$(cd "${1:-build-deb}" && pwd)
PORT=$((3485 + ${VSTOR_PORT_OFFSET:-0}))
tmp=$(mktemp -d /tmp/vstor-pkg.XXXXXX)
pid=
export DEBIAN_FRONTEND=noninteractive

purge() {
	apt-get purge -y -qq vstor libvstor-dev >"$tmp/purge.log" 2>&1
}
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	purge
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL package: $*" >&2
	[ -s "$tmp/vstord.log" ] && tail -20 "$tmp/vstord.log" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || fail "needs root (apt-get install)"
ls "$DEBS"/vstor_*.deb "$DEBS"/libvstor-dev_*.deb >/dev/null 2>&1 ||
	fail "no packages in $DEBS (run scripts/package.sh)"
command -v iscsi-ls >/dev/null || fail "iscsi-ls not installed (libiscsi-bin)"

(cd "$DEBS" && apt-get install -y -qq ./vstor_*.deb ./libvstor-dev_*.deb) >"$tmp/install.log" 2>&1 ||
	fail "apt-get install: $(tail -5 "$tmp/install.log")"
for f in /usr/sbin/vstord /usr/bin/vstorctl; do [ -x $f ] || fail "$f not installed"; done
for f in /lib/systemd/system/vstord.service /usr/share/man/man8/vstord.8.gz \
	/usr/share/man/man8/vstorctl.8.gz /usr/share/doc/vstor/examples/vstord.json \
	/usr/include/vstor/filter.h /usr/share/bash-completion/completions/vstorctl; do
	[ -f $f ] || fail "$f not installed"
done
[ "$(stat -c %a /etc/vstor/vstord.json)" = 600 ] || fail "/etc/vstor/vstord.json is not 0600"
grep -qx /etc/vstor/vstord.json /var/lib/dpkg/info/vstor.conffiles ||
	fail "/etc/vstor/vstord.json is not a conffile"
plugindir=$(pkg-config --variable=plugindir vstor) || fail "pkg-config vstor: not found"
[ -d "$plugindir" ] || fail "plugin directory $plugindir not installed"
echo '#include <vstor/filter.h>' | cc -std=c11 -Wall -Werror $(pkg-config --cflags vstor) \
	-fsyntax-only -x c - || fail "vstor/filter.h does not compile with pkg-config's flags"
/usr/sbin/vstord -c /etc/vstor/vstord.json --check >/dev/null 2>"$tmp/check" ||
	fail "the packaged config does not check: $(cat "$tmp/check")"

# serve CONFIG in the background on the test port
serve() {
	: >"$tmp/vstord.log"
	/usr/sbin/vstord -c "$1" --listen "127.0.0.1:$PORT" --ctl-socket "$tmp/ctl.sock" \
		>"$tmp/vstord.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -qE '^vstord: (serving |warning: .*no targets configured)' "$tmp/vstord.log" && return
		kill -0 $pid 2>/dev/null || fail "vstord -c $1 exited"
		sleep 0.1
	done
	fail "vstord -c $1 did not start"
}
stop() {
	kill -TERM $pid
	wait $pid || fail "vstord exited $? after SIGTERM"
	pid=
}

serve /etc/vstor/vstord.json
iscsi-ls -s "iscsi://127.0.0.1:$PORT/" >"$tmp/ls" 2>&1 || fail "iscsi-ls: $(cat "$tmp/ls")"
grep -q Target: "$tmp/ls" && fail "the packaged config exports something: $(cat "$tmp/ls")"
stop

serve /usr/share/doc/vstor/examples/vstord.json
iscsi-ls -s "iscsi://127.0.0.1:$PORT/" >"$tmp/ls" 2>&1 || fail "iscsi-ls: $(cat "$tmp/ls")"
grep -q 'Target:iqn.2026-11.org.vstor:default' "$tmp/ls" && grep -q 'Lun:0 ' "$tmp/ls" ||
	fail "iscsi-ls does not find the example's disk: $(cat "$tmp/ls")"
vstorctl --socket "$tmp/ctl.sock" lun list >"$tmp/luns" 2>&1 || fail "vstorctl: $(cat "$tmp/luns")"
grep -q 'iqn.2026-11.org.vstor:default' "$tmp/luns" || fail "vstorctl lun list: $(cat "$tmp/luns")"
stop

purge || fail "apt-get purge: $(tail -5 "$tmp/purge.log")"
for f in /usr/sbin/vstord /usr/bin/vstorctl /etc/vstor/vstord.json /lib/systemd/system/vstord.service \
	/usr/include/vstor; do
	[ -e $f ] && fail "$f left after purge"
done
echo "PASS package: installed, exports nothing until configured, served the example to iscsi-ls, purged"
