#!/bin/bash
# The first command: install what is missing, build, and serve the default
# disk (iqn.2026-11.org.vstor:default, LUN 0 = 1 GiB RAM) on 127.0.0.1:3260
# in the foreground.  Extra arguments go to vstord (e.g. -c my.json).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh

vs_install_deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target vstord >/dev/null

cat <<'MSG'
Built build/vstord.  Attach the default disk from this machine with:

  iscsiadm -m discovery -t st -p 127.0.0.1:3260
  iscsiadm -m node -T iqn.2026-11.org.vstor:default -p 127.0.0.1:3260 --login

or look at it with libiscsi's tools (no kernel initiator needed):

  iscsi-ls -s iscsi://127.0.0.1:3260/
  iscsi-inq iscsi://127.0.0.1:3260/iqn.2026-11.org.vstor:default/0

Stop with Ctrl-C.
MSG
exec build/vstord "$@"
