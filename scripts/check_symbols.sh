#!/bin/bash
# Every symbol vstor's libraries and plugins export starts with the
# project's prefix, so linking vstor next to anything else cannot collide
# (issue 12, point 7).  Reads the static libraries (libvstor_*.a), the
# shared ones (libvstor*.so*) and the example plugins of a build directory
# (not the tests' own helper library);
# prints each symbol outside the prefixes with the file defining it and
# exits 1 if there is one.
#
# Usage: scripts/check_symbols.sh BUILD_DIR
#
# Allowed: vs_ and VS_ (the C API, internal functions included: the
# prefix says whose they are, the header they are declared in says who may
# call them) and vstor_.  A plugin's entry points (vs_plugin_*) match too,
# and so do the version nodes of a shared library's symbol map (VSTOR_*,
# e.g. VSTOR_SERVICE_1).
# Sanitizer and toolchain symbols are not ours and are left out: ASan's
# __odr_asan.* markers, _init/_fini, __bss_start, _edata, _end.
set -u
dir=${1:?usage: check_symbols.sh BUILD_DIR}
[ -d "$dir" ] || { echo "check_symbols: $dir: no such directory" >&2; exit 2; }

mapfile -t files < <(find "$dir" -maxdepth 3 \( -name 'libvstor*.a' -o -name 'libvstor*.so*' \
                     -o -path '*/plugins/examples/*.so' \) -type f -not -path '*/CMakeFiles/*' -not -name 'libvstor_testlib*' | sort)
[ ${#files[@]} -gt 0 ] || { echo "check_symbols: no vstor library under $dir" >&2; exit 2; }

allowed='^(vs_|VS_|vstor_|VSTOR_)'
ignored='^(__odr_asan|_init$|_fini$|__bss_start$|_edata$|_end$)'
bad=0 total=0
for f in "${files[@]}"; do
	case $f in
	*.a) list=$(nm -g --defined-only "$f" 2>/dev/null) ;;
	*)   list=$(nm -D --defined-only "$f" 2>/dev/null) ;;
	esac
	while read -r sym; do
		[ -n "$sym" ] || continue
		[[ $sym =~ $ignored ]] && continue
		total=$((total + 1))
		if ! [[ $sym =~ $allowed ]]; then
			echo "check_symbols: ${f#"$dir"/}: $sym"
			bad=$((bad + 1))
		fi
	done < <(awk 'NF == 3 { print $3 }' <<<"$list")
done
if [ "$bad" -gt 0 ]; then
	echo "check_symbols: $bad of $total exported symbols lack the vs_/vstor_ prefix"
	exit 1
fi
echo "check_symbols: $total exported symbols in ${#files[@]} files, all prefixed"
