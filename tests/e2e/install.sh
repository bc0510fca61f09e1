#!/bin/bash
# `cmake --install` lays out what the README and the package promise:
# vstord in sbin, vstorctl in bin, both man pages, the default
# configuration (the built-in RAM disk) as etc/vstor/vstord.json and as an
# example, every public header with a pkg-config file that compiles them,
# the plugin directory and the systemd unit.  Staged with DESTDIR into the test's temp dir.
. "$(dirname "$0")/lib/common.sh" "$@"

root=$tmp/root
DESTDIR=$root cmake --install "$BUILD" >"$tmp/install.log" 2>&1 ||
	fail "cmake --install: $(tail -5 "$tmp/install.log")"
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD/CMakeCache.txt")
[ -n "$prefix" ] || fail "no CMAKE_INSTALL_PREFIX in $BUILD/CMakeCache.txt"
etc=$([ "$prefix" = /usr ] && echo /etc || echo "$prefix/etc")

for f in "$prefix/sbin/vstord" "$prefix/bin/vstorctl"; do
	[ -x "$root$f" ] || fail "$f not installed (or not executable)"
done
for f in share/man/man8/vstord.8 share/man/man8/vstorctl.8 include/vstor/bdev.h \
	include/vstor/backend.h include/vstor/filter.h share/doc/vstor/examples/vstord.json \
	share/bash-completion/completions/vstorctl; do
	[ -f "$root$prefix/$f" ] || fail "$prefix/$f not installed"
done
# every public header, no more, no less
diff <(cd "$E2E_ROOT/include/vstor" && ls ./*.h) <(cd "$root$prefix/include/vstor" && ls ./*.h) ||
	fail "installed headers differ from include/vstor"

# The default configuration is the built-in one: the same effective config.
conf=$root$etc/vstor/vstord.json
[ -f "$conf" ] || fail "$etc/vstor/vstord.json not installed"
[ "$(stat -c %a "$conf")" = 600 ] || fail "$etc/vstor/vstord.json: mode $(stat -c %a "$conf"), want 600"
"$root$prefix/sbin/vstord" -c "$conf" --print-config >"$tmp/installed.json" 2>"$tmp/err" ||
	fail "installed vstord rejects the installed config: $(cat "$tmp/err")"
"$VSTORD" --print-config >"$tmp/builtin.json" || fail "vstord --print-config failed"
diff "$tmp/builtin.json" "$tmp/installed.json" >&2 ||
	fail "$etc/vstor/vstord.json is not the built-in default"
# An edited configuration survives a second install.
echo '{"targets": []}' >"$conf"
DESTDIR=$root cmake --install "$BUILD" >"$tmp/install2.log" 2>&1 || fail "second install failed"
[ "$(cat "$conf")" = '{"targets": []}' ] || fail "a second install overwrote $etc/vstor/vstord.json"

# pkg-config: the headers compile on their own, each, with its flags alone.
pc=$(find "$root" -name vstor.pc)
[ -n "$pc" ] || fail "vstor.pc not installed"
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$root
cflags=$(pkg-config --cflags vstor) || fail "pkg-config --cflags vstor failed"
[ "$(pkg-config --modversion vstor)" = "$("$VSTORD" --version | awk '{print $2}')" ] ||
	fail "vstor.pc version $(pkg-config --modversion vstor) is not vstord's"
for h in "$root$prefix"/include/vstor/*.h; do
	printf '#include <vstor/%s>\n' "$(basename "$h")" |
		cc -std=c11 -Wall -Wextra -Werror $cflags -fsyntax-only -x c - 2>"$tmp/cc.err" ||
		fail "vstor/$(basename "$h") does not compile alone with $cflags: $(head -3 "$tmp/cc.err")"
done
plugindir=$(pkg-config --variable=plugindir vstor)
# (with a sysroot, pkg-config prefixes it)
[ -d "$plugindir" ] || fail "plugindir $plugindir (vstor.pc) not installed"
case $plugindir in
*/vstor/plugins) ;;
*) fail "plugindir $plugindir is not \${libdir}/vstor/plugins" ;;
esac
# The systemd unit runs the installed daemon on the installed config, as
# Type=notify with a watchdog, and systemd itself finds nothing wrong in it.
unit=$(find "$root" -name vstord.service)
[ -n "$unit" ] || fail "vstord.service not installed"
case $prefix in
/usr) [ "$unit" = "$root/lib/systemd/system/vstord.service" ] || fail "unit at $unit" ;;
*) [ "$unit" = "$root$prefix/lib/systemd/system/vstord.service" ] || fail "unit at $unit" ;;
esac
for want in "ExecStart=$prefix/sbin/vstord -c $etc/vstor/vstord.json" Type=notify \
	"ExecReload=$prefix/bin/vstorctl config reload" \
	WatchdogSec= RuntimeDirectory=vstor ProtectSystem=strict ProtectHome=yes NoNewPrivileges=yes \
	"ReadWritePaths=$etc/vstor"; do
	grep -q "^$want" "$unit" || fail "vstord.service lacks $want"
done
if command -v systemd-analyze >/dev/null; then
	# its commands where the staged install has them
	sed "s|=$prefix/|=$root$prefix/|g" "$unit" >"$tmp/vstord.service"
	systemd-analyze verify --man=no "$tmp/vstord.service" >"$tmp/verify" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$tmp/verify")"
else
	fail "systemd-analyze not installed (systemd)"
fi
pass "$(find "$root" -type f | wc -l) files under $prefix and $etc, headers compile via pkg-config"
