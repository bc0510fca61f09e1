#!/bin/bash
# The man page stays true to the program: every backend and filter that
# `vstord --help` lists (from the layers' own schemas) has its subsection
# in doc/vstord.8 under BACKENDS or FILTERS, with every one of its options.
# A layer added without its documentation fails here.
set -euo pipefail
VSTORD=${1:?usage: $0 VSTORD [BUILD_DIR]}
here=$(cd "$(dirname "$0")" && pwd)
man="$here/../../doc/vstord.8"

"$VSTORD" --help | python3 -c '
import re, sys
man = open(sys.argv[1]).read()
help_text = sys.stdin.read()
sections = {"Backends": "BACKENDS", "Filters": "FILTERS"}
kind = None
layers = []          # (section, name, [options])
for line in help_text.splitlines():
    m = re.match(r"^(Backends|Filters) \(", line)
    if m:
        kind = sections[m.group(1)]
        continue
    m = re.match(r"^  ([a-z0-9_-]+): ", line)
    if kind and m:
        layers.append((kind, m.group(1), []))
        continue
    m = re.match(r"^    ([a-z0-9_]+)=", line)
    if kind and m and layers:
        layers[-1][2].append(m.group(1))
if not any(k == "BACKENDS" for k, _, _ in layers):
    sys.exit("FAIL man_layers: vstord --help lists no backends")
bad = []
for kind, name, opts in layers:
    sec = re.search(r"^\.SH " + kind + r"\n(.*?)(?=^\.SH )", man, re.S | re.M)
    if not sec:
        bad.append("no .SH %s section" % kind)
        continue
    sub = re.search(r"^\.SS " + re.escape(name) + r"\n(.*?)(?=^\.S[SH] )", sec.group(1) + ".SH \n", re.S | re.M)
    if not sub:
        bad.append("%s %s: no .SS %s subsection" % (kind, name, name))
        continue
    for o in opts:
        if not re.search(r"^\.BR? " + re.escape(o) + r"( |$)", sub.group(1), re.M):
            bad.append("%s %s: option %s not described" % (kind, name, o))
if bad:
    print("FAIL man_layers: doc/vstord.8 is out of date:")
    for b in bad:
        print("  " + b)
    sys.exit(1)
print("PASS man_layers: %d layers, %d options documented" % (len(layers), sum(len(o) for _, _, o in layers)))
' "$man"
