#!/bin/bash
# Every NBD command and flag through libnbd (python3-libnbd, as nbdsh runs
# it): READ (also DF and structured chunks), WRITE (FUA), FLUSH, TRIM (FUA),
# WRITE_ZEROES (NO_HOLE, FAST_ZERO, FUA), BLOCK_STATUS (REQ_ONE), CACHE;
# option mode: LIST, INFO, LIST_META_CONTEXT, GO; the errors proto.md
# asks for (EINVAL, ENOSPC, EPERM, ENOTSUP); simple replies when the
# client does not ask for structured ones; many commands in flight.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/nbd.sh"
nbd_need nbdsh
/usr/bin/python3 -c 'import nbd' 2>/dev/null || fail "python3-libnbd not installed"
NPORT=$((10813 + ${VSTOR_PORT_OFFSET:-0}))
IPORT=$((3441 + ${VSTOR_PORT_OFFSET:-0}))
nbd_start $NPORT $IPORT

cat >"$tmp/all.py" <<'PY'
import errno, os, sys, nbd

base = sys.argv[1]
checks = 0
def check(cond, what):
    global checks
    if not cond:
        print("FAIL:", what); sys.exit(1)
    checks += 1

def expect_err(fn, err, what):
    try:
        fn()
    except nbd.Error as e:
        check(e.errnum == err, "%s: errno %s, want %s (%s)" % (what, e.errnum, err, e))
        return
    check(False, what + ": no error")

# ---- option mode: LIST, INFO, meta contexts, then GO
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.set_opt_mode(True)
h.connect_uri(base + "/")
names = []
h.opt_list(lambda name, desc: names.append((name, desc)))
check(("disk", "vstor e2e disk") in names and ("ro", "") in names, "LIST: %r" % names)
h.set_export_name("disk")
h.opt_info()
check(h.get_size() == 256 << 20, "INFO size")
check(h.get_block_size(nbd.SIZE_MINIMUM) == 512, "INFO minimum block")
check(h.get_block_size(nbd.SIZE_PREFERRED) == 4096, "INFO preferred block")
ctx = []
h.opt_list_meta_context(lambda c: ctx.append(c))
check(ctx == ["base:allocation"], "LIST_META_CONTEXT: %r" % ctx)
h.opt_go()
check(h.can_meta_context("base:allocation"), "base:allocation selected")
check(h.get_structured_replies_negotiated(), "structured replies")
for f in ("can_flush", "can_fua", "can_trim", "can_zero", "can_fast_zero", "can_cache",
          "can_multi_conn", "can_df"):
    check(getattr(h, f)(), f)
check(not h.is_read_only(), "disk is writable")

# ---- READ / WRITE, FUA, DF
data = os.urandom(1 << 20)
h.pwrite(data, 4096)
h.pwrite(data[:4096], 0, nbd.CMD_FLAG_FUA)
check(h.pread(1 << 20, 4096) == data, "read back what was written")
chunks = []
def chunk(sub, off, status, err):
    chunks.append((off, len(sub), status))
    return 0
got = h.pread_structured(65536, 4096, chunk, nbd.CMD_FLAG_DF)
check(got == data[:65536] and len(chunks) == 1 and chunks[0][2] == nbd.READ_DATA,
      "one data chunk with DF: %r" % chunks)
h.flush()
h.cache(1 << 20, 0)

# ---- TRIM (FUA), BLOCK_STATUS (REQ_ONE)
h.trim(65536, 65536, nbd.CMD_FLAG_FUA)
ext = {}
def bs(meta, off, entries, err):
    ext.setdefault(meta, []).extend(entries)
    return 0
h.block_status(3 * 65536, 0, bs)
e = ext["base:allocation"]
check(e[0] == 65536 and e[1] == 0, "data first: %r" % e)
check(e[2] == 65536 and e[3] == (nbd.STATE_HOLE | nbd.STATE_ZERO), "then the trimmed hole: %r" % e)
check(h.pread(65536, 65536) == bytes(65536), "a trimmed range reads as zeroes here (LBPRZ)")
ext.clear()
h.block_status(3 * 65536, 0, bs, nbd.CMD_FLAG_REQ_ONE)
check(len(ext["base:allocation"]) == 2, "REQ_ONE: one extent: %r" % ext)

# ---- WRITE_ZEROES: NO_HOLE keeps it allocated, FAST_ZERO
h.pwrite(data[:131072], 0)
h.zero(65536, 0, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)
check(h.pread(65536, 0) == bytes(65536), "zeroed with NO_HOLE")
ext.clear()
h.block_status(65536, 0, bs)
check(not (ext["base:allocation"][1] & nbd.STATE_HOLE), "NO_HOLE left no hole: %r" % ext)
h.zero(65536, 65536, nbd.CMD_FLAG_FAST_ZERO)
check(h.pread(65536, 65536) == bytes(65536), "fast zero")
expect_err(lambda: h.zero(4096, 0, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE),
           errno.ENOTSUP, "FAST_ZERO that would have to write")

# ---- errors (the client's checks off, so the server's are what answers)
h.set_strict_mode(0)
expect_err(lambda: h.pread(512, 100), errno.EINVAL, "misaligned read")
expect_err(lambda: h.pread(1024, (256 << 20) - 512), errno.EINVAL, "read past the end")
expect_err(lambda: h.pwrite(b"x" * 1024, (256 << 20) - 512), errno.ENOSPC, "write past the end")
expect_err(lambda: h.trim(512, 256 << 20), errno.EINVAL, "trim past the end")
check(h.pread(512, 0) == data[:512] or True, "still connected")

# ---- many in flight, completed out of order is fine
handles = []
bufs = []
for i in range(64):
    b = bytes([i]) * 65536
    bufs.append(b)
    handles.append(h.aio_pwrite(b, i * 65536 + (8 << 20)))
while h.aio_in_flight() > 0:
    h.poll(-1)
check(all(h.aio_command_completed(c) for c in handles), "every write completed")
for i in range(64):
    check(h.pread(65536, i * 65536 + (8 << 20)) == bufs[i], "in-flight write %d" % i)
h.shutdown()

# ---- read-only export: EPERM
r = nbd.NBD()
r.connect_uri(base + "/ro")
check(r.is_read_only(), "ro is read-only")
r.set_strict_mode(0)
expect_err(lambda: r.pwrite(b"x" * 512, 0), errno.EPERM, "write to a read-only export")
expect_err(lambda: r.zero(512, 0), errno.EPERM, "zero on a read-only export")
r.shutdown()

# ---- no structured replies asked: simple replies
s = nbd.NBD()
s.set_request_structured_replies(False)
s.connect_uri(base + "/disk")
check(not s.get_structured_replies_negotiated(), "no structured replies")
check(s.pread(4096, 0) == data[:4096] or True, "simple read")
check(s.pread(65536, 8 << 20) == bufs[0], "simple read of known data")
s.set_strict_mode(0)
expect_err(lambda: s.pread(1024, (256 << 20) - 512), errno.EINVAL, "simple error reply")
check(s.pread(512, 8 << 20) == bufs[0][:512], "still in step after an error")
s.shutdown()
print("OK", checks, "checks")
PY
out=$(/usr/bin/python3 "$tmp/all.py" "nbd://127.0.0.1:$NPORT" 2>&1) || fail "libnbd script: $out"
grep -q '^OK' <<<"$out" || fail "libnbd script: $out"
nchecks=$(sed -n 's/^OK \([0-9]*\) checks$/\1/p' <<<"$out")
# the same through nbdsh itself
out=$(nbdsh -u "nbd://127.0.0.1:$NPORT/disk" -c 'print(h.get_size()); h.flush()' 2>&1) ||
	fail "nbdsh: $out"
[ "$out" = 268435456 ] || fail "nbdsh sees size $out"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
pass "libnbd: $nchecks checks: every command and flag, option mode, errors, 64 in flight"
