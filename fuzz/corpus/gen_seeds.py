#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora of the iSCSI fuzz targets (fuzz/corpus/<target>/).

Seeds are well-formed exchanges (RFC 7143 §11 layouts) that get each target
past its first hurdle, so that a 30 s run spends its time in the states
behind it: fuzz_login into CHAP and full feature phase (Text, SendTargets),
fuzz_conn into every PDU handler of a logged-in connection, fuzz_pdu into
the AHS parser and the key parser.  Run from anywhere; it rewrites the
files it owns and leaves others alone.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def keys(*pairs):
    return b"".join(k.encode() + b"=" + v.encode() + b"\0" for k, v in pairs)


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def bhs(op, flags, itt=0, f20=0, f24=0, f28=0, f32=b"", f36=0, f40=0, f44=0, lun=0,
        ahs_words=0, dlen=0, b2=0, b3=0):
    h = bytearray(48)
    h[0] = op
    h[1] = flags
    h[2] = b2
    h[3] = b3
    h[4] = ahs_words
    h[5:8] = dlen.to_bytes(3, "big")
    h[8:16] = lun.to_bytes(8, "big")
    struct.pack_into(">IIII", h, 16, itt, f20, f24, f28)
    if f32:
        h[32:32 + len(f32)] = f32
    else:
        struct.pack_into(">III", h, 36, f36, f40, f44)
    return bytes(h)


# ---------------------------------------------------------------- fuzz_login
# Input: PDUs of a 48-byte BHS + DataSegmentLength bytes (opcode forced to
# Login Request, then Text Request once the login is done).  Byte 47 = 0:
# the whole response buffer.

LOGIN, TEXT = 0x43, 0x04      # Login Request (immediate), Text Request


def login_pdu(csg, nsg, text, transit=True, cont=False, itt=1, isid=b"\x80\0\0\x12\x34\x56"):
    flags = (0x80 if transit else 0) | (0x40 if cont else 0) | csg << 2 | (nsg if transit else 0)
    h = bytearray(bhs(LOGIN, flags, itt=itt, f24=1, dlen=len(text)))
    h[8:14] = isid
    return bytes(h) + text


def text_pdu(text, itt=2, cmdsn=1):
    return bhs(TEXT, 0x80, itt=itt, f20=0xffffffff, f24=cmdsn, dlen=len(text)) + text


OPERATIONAL = keys(("HeaderDigest", "CRC32C,None"), ("DataDigest", "None,CRC32C"),
                   ("MaxRecvDataSegmentLength", "65536"), ("InitialR2T", "No"),
                   ("ImmediateData", "Yes"), ("MaxBurstLength", "262144"),
                   ("FirstBurstLength", "65536"), ("MaxOutstandingR2T", "2"),
                   ("ErrorRecoveryLevel", "0"), ("DefaultTime2Wait", "2"),
                   ("DefaultTime2Retain", "0"), ("DataPDUInOrder", "Yes"),
                   ("DataSequenceInOrder", "Yes"), ("MaxConnections", "1"),
                   ("X-org.vstor.fuzz", "1"))
INI = ("InitiatorName", "iqn.2024-01.fuzz:ini")


def fuzz_login():
    t = "fuzz_login"
    write(t, "normal_to_full_feature",
          login_pdu(0, 1, keys(INI, ("TargetName", "iqn.2024-01.fuzz:open"),
                               ("SessionType", "Normal"), ("AuthMethod", "None"))) +
          login_pdu(1, 3, OPERATIONAL) +
          text_pdu(keys(("SendTargets", "All"))) +
          text_pdu(keys(("MaxRecvDataSegmentLength", "16384")), itt=3, cmdsn=2))
    write(t, "discovery_sendtargets",
          login_pdu(1, 3, keys(INI, ("SessionType", "Discovery"),
                               ("MaxRecvDataSegmentLength", "8192"))) +
          text_pdu(keys(("SendTargets", "All"))) +
          text_pdu(keys(("SendTargets", "iqn.2024-01.fuzz:open")), itt=3, cmdsn=2))
    chap_start = (login_pdu(0, 1, keys(INI, ("TargetName", "iqn.2024-01.fuzz:chap"),
                                       ("AuthMethod", "CHAP,None"))) +
                  login_pdu(0, 1, keys(("CHAP_A", "5,7"))))
    write(t, "chap_response", chap_start +
          login_pdu(0, 1, keys(("CHAP_N", "user"),
                               ("CHAP_R", "0x00112233445566778899aabbccddeeff"))))
    write(t, "chap_mutual", chap_start +
          login_pdu(0, 1, keys(("CHAP_N", "user"),
                               ("CHAP_R", "0x00112233445566778899aabbccddeeff"),
                               ("CHAP_I", "7"),
                               ("CHAP_C", "0x0102030405060708090a0b0c0d0e0f10"))))
    write(t, "acl_refused",
          login_pdu(0, 1, keys(("InitiatorName", "iqn.2024-01.fuzz:bad"),
                               ("TargetName", "iqn.2024-01.fuzz:acl"), ("AuthMethod", "None"))))
    first = keys(INI, ("TargetName", "iqn.2024-01.fuzz:open"))
    write(t, "continued_text",
          login_pdu(1, 3, first[:20], transit=False, cont=True) +
          login_pdu(1, 3, first[20:] + OPERATIONAL))


# ---------------------------------------------------------------- fuzz_conn
# Input: a mode byte (bit 0 digests, bit 1 structured, bit 2 fix CmdSN /
# ExpStatSN, bit 3 InitialR2T=Yes), then PDUs: BHS, AHS, data.

SCSI_CMD, DATA_OUT, NOP_OUT, TMF, LOGOUT, SNACK = 0x01, 0x05, 0x00, 0x02, 0x06, 0x10
F, R, W, SIMPLE = 0x80, 0x40, 0x20, 0x01
STRUCT = 0x06


def cmd(itt, cdb, edtl, flags, data=b"", ahs=b""):
    return bhs(SCSI_CMD, flags, itt=itt, f20=edtl, f32=cdb.ljust(16, b"\0"),
               ahs_words=len(ahs) // 4, dlen=len(data)) + ahs + pad4(data)


def rw10(op, lba, blocks):
    return struct.pack(">BBIBHB", op, 0, lba, 0, blocks, 0)


def data_out(itt, ttt, datasn, offset, data, final=True):
    return bhs(DATA_OUT, F if final else 0, itt=itt, f20=ttt, f36=datasn, f40=offset,
               dlen=len(data)) + pad4(data)


def nop(itt, data=b""):
    return bhs(0x40 | NOP_OUT, F, itt=itt, f20=0xffffffff, dlen=len(data)) + pad4(data)


def fuzz_conn():
    t = "fuzz_conn"
    tur = cmd(1, b"\0" * 6, 0, F | SIMPLE)
    write(t, "tur", bytes([STRUCT]) + tur + cmd(2, b"\0" * 6, 0, F | SIMPLE))
    write(t, "tur_raw", bytes([0]) + tur)
    write(t, "tur_digests", bytes([STRUCT | 1]) + tur +
          cmd(2, rw10(0x2a, 8, 1), 512, F | W | SIMPLE, b"\xa5" * 512))
    write(t, "write_immediate", bytes([STRUCT]) +
          cmd(1, rw10(0x2a, 0, 1), 512, F | W | SIMPLE, b"\x5a" * 512))
    # InitialR2T=Yes: the first R2T of the first task has TTT 1 (task 0,
    # generation 1).
    write(t, "write_r2t", bytes([STRUCT | 8]) +
          cmd(1, rw10(0x2a, 0, 8), 4096, F | W | SIMPLE, b"\x11" * 512) +
          data_out(1, 1, 0, 512, b"\x22" * 1536, final=False) +
          data_out(1, 1, 1, 2048, b"\x33" * 2048))
    write(t, "write_unsolicited", bytes([STRUCT]) +
          cmd(1, rw10(0x2a, 0, 16), 8192, W | SIMPLE, b"\x44" * 1024) +
          data_out(1, 0xffffffff, 0, 1024, b"\x55" * 3072) +
          data_out(1, 1, 0, 4096, b"\x66" * 4096))
    write(t, "read", bytes([STRUCT]) + cmd(1, rw10(0x28, 0, 8), 4096, F | R | SIMPLE) +
          cmd(2, bytes([0x12, 0, 0, 0, 96, 0]), 96, F | R | SIMPLE))
    write(t, "nop", bytes([STRUCT]) + nop(5, bytes(range(64))))
    write(t, "tmf", bytes([STRUCT | 8]) +
          cmd(1, rw10(0x2a, 0, 8), 4096, F | W | SIMPLE, b"\x11" * 512) +
          bhs(0x40 | TMF, F | 1, itt=2, f20=1) +
          bhs(0x40 | TMF, F | 2, itt=3, f20=0xffffffff) +
          bhs(0x40 | TMF, F | 5, itt=4, f20=0xffffffff) +
          bhs(0x40 | TMF, F | 6, itt=5, f20=0xffffffff))
    write(t, "text", bytes([STRUCT]) +
          bhs(0x04, F, itt=7, f20=0xffffffff, dlen=16) + pad4(keys(("SendTargets", "All"))))
    write(t, "logout", bytes([STRUCT]) + tur + bhs(0x40 | LOGOUT, F | 0, itt=9))
    ext_cdb = struct.pack(">HBB", 5, 1, 0) + b"\0\0\0\0"
    write(t, "ahs_extended_cdb", bytes([STRUCT]) +
          cmd(1, rw10(0x28, 0, 1), 512, F | R | SIMPLE, ahs=ext_cdb))
    write(t, "snack", bytes([STRUCT]) + bhs(SNACK, F | 1, itt=0xffffffff, f20=0xffffffff))


# ---------------------------------------------------------------- fuzz_pdu
# Input: a 48-byte BHS, then bytes used as AHS, as text and for the CRC.

def fuzz_pdu():
    t = "fuzz_pdu"
    write(t, "scsi_cmd_ext_cdb",
          bhs(SCSI_CMD, F | R | SIMPLE, itt=1, f20=512, f32=rw10(0x28, 0, 1).ljust(16, b"\0"),
              ahs_words=2) + struct.pack(">HBB", 5, 1, 0) + b"\x01\x02\x03\x04")
    write(t, "scsi_cmd_bidi_len",
          bhs(SCSI_CMD, F | R | W | SIMPLE, itt=1, f20=512, ahs_words=2) +
          struct.pack(">HBBI", 5, 2, 0, 4096))
    write(t, "login_keys",
          bhs(LOGIN, 0x87, itt=1, dlen=64) +
          keys(INI, ("TargetName", "iqn.2024-01.fuzz:open"), ("AuthMethod", "CHAP,None"),
               ("CHAP_C", "0x00112233"), ("CHAP_R", "0b3q2w"), ("MaxRecvDataSegmentLength", "8192"),
               ("HeaderDigest", "CRC32C,None")))
    write(t, "data_out", data_out(1, 1, 0, 512, b"\x77" * 512))
    write(t, "nop_out", nop(5, b"ping"))
    write(t, "text_continue", bhs(0x04, F | 0x40, itt=7, f20=0xffffffff, dlen=16) +
          keys(("SendTargets", "All")))


# ---------------------------------------------------------------- fuzz_nbd
# Input: TLS mode byte, client flags, options (IHAVEOPT header + data) and,
# once in transmission, NBD request headers (proto.md layouts).

NBD_OPT = 0x49484156454F5054


def nbd_opt(opt, data=b""):
    return struct.pack(">QII", NBD_OPT, opt, len(data)) + data


def nbd_go(name, reqs=()):
    n = name.encode()
    return struct.pack(">I", len(n)) + n + struct.pack(">H", len(reqs)) + \
        b"".join(struct.pack(">H", r) for r in reqs)


def nbd_meta(name, queries):
    n = name.encode()
    return struct.pack(">I", len(n)) + n + struct.pack(">I", len(queries)) + \
        b"".join(struct.pack(">I", len(q)) + q.encode() for q in queries)


def nbd_req(typ, off, length, flags=0, handle=1, payload=b""):
    return struct.pack(">IHHQQI", 0x25609513, flags, typ, handle, off, length) + payload


def fuzz_nbd():
    t = "fuzz_nbd"
    hello = b"\0" + struct.pack(">I", 3)
    go = nbd_opt(8) + nbd_opt(10, nbd_meta("a", ["base:allocation"])) + nbd_opt(7, nbd_go("a", [3, 1]))
    io = (nbd_req(1, 0, 512, 1, payload=b"\x55" * 512) + nbd_req(0, 0, 4096, 4) +
          nbd_req(7, 0, 1 << 20, 8) + nbd_req(6, 4096, 8192, 2 | 16) + nbd_req(4, 0, 512) +
          nbd_req(5, 0, 512) + nbd_req(3, 0, 0) + nbd_req(2, 0, 0))
    write(t, "go_structured_io", hello + go + io)
    write(t, "list_info_abort", hello + nbd_opt(3) + nbd_opt(6, nbd_go("a", [0, 2])) +
          nbd_opt(9, nbd_meta("a", [])) + nbd_opt(2))
    write(t, "export_name", b"\0" + struct.pack(">I", 1) + nbd_opt(1, b"a") + nbd_req(0, 0, 512))
    write(t, "starttls_required", b"\2" + struct.pack(">I", 1) + nbd_opt(3) + nbd_opt(5) +
          nbd_opt(7, nbd_go("a")) + nbd_req(1, 1 << 20, 512, payload=b"\0" * 512))
    write(t, "pending_lookup", hello + nbd_opt(7, nbd_go("later")) + b"\1" + nbd_req(0, 0, 512))


if __name__ == "__main__":
    fuzz_nbd()
    fuzz_login()
    fuzz_conn()
    fuzz_pdu()
