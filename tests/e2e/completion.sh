#!/bin/bash
# Bash completion for vstorctl (dist/vstorctl.bash-completion): commands,
# subcommands and options as vstorctl --help lists them, and the targets
# and LUNs of the running vstord named by --socket.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
PORT=$((3487 + ${VSTOR_PORT_OFFSET:-0}))
A=iqn.2026-11.org.vstor:comp-a
B=iqn.2026-11.org.vstor:comp-b
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$A", "luns": [ { "lun": 0, "backend": "ram", "size": "4M" },
                                        { "lun": 7, "backend": "ram", "size": "4M" } ] },
               { "iqn": "$B", "luns": [ { "lun": 3, "backend": "ram", "size": "4M" } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"

# complete WORD...: what completing the last word offers, sorted, one line
complete_words() {
	PATH=$BUILD_ABS:$PATH bash -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_vstorctl
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ \
		"$E2E_ROOT/dist/vstorctl.bash-completion" "$@"
}
want() {   # expected -- words...
	local exp=$1 got
	shift
	got=$(complete_words "$@")
	[ "$got" = "$exp" ] || fail "completing '$*': got '$got', want '$exp'"
}

got=$(complete_words vstorctl "")
for w in target lun acl chap layer session stats top config --socket --json; do
	grep -qw -- "$w" <<<"$got" || fail "commands lack $w: $got"
done
want "add list remove replace-leg resize set-filter " vstorctl lun ""
want "remove replace-leg resize " vstorctl lun "re"
want "reload save " vstorctl config ""
want "--target " vstorctl lun add --ta
want "--count --interval --socket --target " vstorctl top --
want "$A $B " vstorctl --socket "$SOCK" lun list --target ""
want "$B " vstorctl --socket "$SOCK" stats --target "iqn.2026-11.org.vstor:comp-b"
want "0 7 " vstorctl --socket "$SOCK" lun remove --target "$A" --lun ""
want "3 " vstorctl --socket "$SOCK" lun remove --target "$B" --lun ""
want "$A $B " vstorctl --socket "$SOCK" target remove ""
# without a daemon: no targets (an empty reply), no error on the terminal
want " " vstorctl --socket "$tmp/none.sock" lun list --target ""
pass "commands, subcommands, options, targets and LUNs of the running daemon"
