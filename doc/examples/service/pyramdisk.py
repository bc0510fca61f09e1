#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pyramdisk: a RAM disk service in Python with only the standard library.

It speaks doc/service-protocol.md itself, without libvstor-service, which
is the point: everything it needs is in that document.  Raw mode: it
answers the SCSI commands a disk needs (SBC-3 / SPC-4) by itself.

    pyramdisk.py [-s SOCKET] [-t TARGET] [-n NAME] [--size BYTES] LUN

Only for little-endian machines with x86's store and load order (the
protocol's ring indexes need release stores and acquire loads, which
plain stores and loads are there).  SIGTERM / SIGINT: stop.
"""
import argparse
import mmap
import os
import select
import signal
import socket
import struct
import sys

# ---- the protocol's numbers and layouts (doc/service-protocol.md) ----
HELLO_MAGIC = 0x31435653524F5453        # "STORSVC1" little-endian
AREA_MAGIC = 0x31414552415356           # "VSAREA1"
MSG_HELLO, MSG_WELCOME, MSG_ATTACH, MSG_DETACH, MSG_REPLY, MSG_LUN_GONE, MSG_ERROR = range(1, 8)
OP_SCSI, OP_ABORT, OP_LUN_RESET, OP_TARGET_RESET, OP_NEXUS_LOST = range(1, 6)
WAKE = 1

HDR = struct.Struct("<IIQ")                                     # type, length, request_id
HELLO = struct.Struct("<IIQ Q HH I I I Q 64s 224s")             # 336
WELCOME = struct.Struct("<IIQ HH I I I Q Q Q Q Q Q I HH")       # 88
ATTACH = struct.Struct("<IIQ Q Q I B B H 64s")                  # 104
REPLY = struct.Struct("<IIQ i I Q 200s")                        # 232
SQE = struct.Struct("<Q B B B B I Q Q I I 32s")                 # the first 72 of 128 bytes
SQE_SIZE, CQE_SIZE = 128, 288
CQE = struct.Struct("<Q B B B B I I I")                         # 24, then 252 bytes of sense
SQ_TAIL, SQ_HEAD, SQ_FLAGS, CQ_TAIL, CQ_HEAD = 128, 192, 196, 256, 320
U32 = struct.Struct("<I")

GOOD, CHECK_CONDITION = 0x00, 0x02
NOT_READY, MEDIUM_ERROR, ILLEGAL_REQUEST = 0x02, 0x03, 0x05


def sense(key, asc, ascq):
    """Fixed-format sense data (SPC-4 4.5.3)."""
    s = bytearray(18)
    s[0], s[2], s[7], s[12], s[13] = 0x70, key, 10, asc, ascq
    return bytes(s)


class Service:
    def __init__(self, path, name, target, lun, size):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect(path)
        hello = HELLO.pack(MSG_HELLO, HELLO.size, 1, HELLO_MAGIC, 1, 0, 0, 64, 0, 0,
                           name.encode(), target.encode())
        self.sock.send(hello)
        msg, fds, _, _ = socket.recv_fds(self.sock, 1024, 3)
        if len(msg) >= HDR.size and HDR.unpack_from(msg)[0] == MSG_ERROR:
            raise SystemExit("pyramdisk: vstord: " + msg[16:].split(b"\0")[0].decode())
        if len(msg) != WELCOME.size or len(fds) != 3:
            raise SystemExit("pyramdisk: no WELCOME")
        (_, _, _, self.major, _, self.features, self.entries, self.nexus_entries,
         area_bytes, self.sq_off, self.cq_off, _, self.data_off, self.data_bytes,
         self.max_transfer, _, _) = WELCOME.unpack(msg)
        memfd, self.sq_efd, self.cq_efd = fds
        self.area = mmap.mmap(memfd, area_bytes)
        os.close(memfd)
        if struct.unpack_from("<Q", self.area, 0)[0] != AREA_MAGIC:
            raise SystemExit("pyramdisk: the shared area has no header")
        # we leave VS_SVC_WAKE set: vstord rings the doorbell for every batch
        U32.pack_into(self.area, SQ_FLAGS, WAKE)
        self.sq_head = U32.unpack_from(self.area, SQ_HEAD)[0]
        self.cq_tail = U32.unpack_from(self.area, CQ_TAIL)[0]
        self.lun, self.size, self.bs = lun, size, 512
        self.disk = bytearray(size)
        self.request_id = 1
        self.attach()

    def attach(self):
        self.request_id += 1
        m = ATTACH.pack(MSG_ATTACH, ATTACH.size, self.request_id, self.lun, self.size, self.bs,
                        0, 0, 0, b"python ram disk")
        self.sock.send(m)
        while True:
            msg = self.sock.recv(1024)
            if not msg:
                raise SystemExit("pyramdisk: vstord closed the connection")
            if HDR.unpack_from(msg)[0] == MSG_REPLY:
                _, _, rid, status, _, _, text = REPLY.unpack(msg)
                if rid == self.request_id:
                    if status:
                        raise SystemExit("pyramdisk: attach: " + text.split(b"\0")[0].decode())
                    return

    # ---- completions ----
    def complete(self, tag, status=GOOD, data_len=0, xfer=0, sns=b""):
        off = self.cq_off + (self.cq_tail % self.entries) * CQE_SIZE
        resid = 1 if xfer < data_len else 0
        self.area[off:off + CQE.size] = CQE.pack(tag, status, len(sns), resid, 0,
                                                 data_len - xfer if resid else 0, xfer, 0)
        self.area[off + CQE.size:off + CQE.size + len(sns)] = sns
        self.cq_tail = (self.cq_tail + 1) & 0xFFFFFFFF
        U32.pack_into(self.area, CQ_TAIL, self.cq_tail)    # after the entry (release)
        os.write(self.cq_efd, (1).to_bytes(8, "little"))

    def data_in(self, tag, off, length, payload):
        n = min(len(payload), length)
        self.area[off:off + n] = payload[:n]
        self.complete(tag, GOOD, length, n)

    def check(self, tag, key, asc, ascq):
        self.complete(tag, CHECK_CONDITION, sns=sense(key, asc, ascq))

    # ---- the disk (SBC-3) ----
    def inquiry(self, tag, cdb, off, length):
        alloc = cdb[3] << 8 | cdb[4]
        if cdb[1] & 1:
            page = cdb[2]
            if page == 0x00:
                d = bytes([0, 0, 0, 3, 0x00, 0x80, 0x83])
            elif page == 0x80:
                serial = b"PYRAMDISK%04d" % self.lun
                d = bytes([0, 0x80, 0, len(serial)]) + serial
            elif page == 0x83:
                ident = b"VSTOR   PYRAMDISK-%d" % self.lun
                d = bytes([0, 0x83, 0, 4 + len(ident), 2, 1, 0, len(ident)]) + ident
            else:
                return self.check(tag, ILLEGAL_REQUEST, 0x24, 0)
            return self.data_in(tag, off, min(length, alloc), d)
        d = bytearray(36)
        d[2], d[3], d[4], d[7] = 6, 2, 31, 0x02                 # SPC-4, CMDQUE
        d[8:16], d[16:32], d[32:36] = b"VSTOR   ", b"PYRAMDISK       ", b"0001"
        self.data_in(tag, off, min(length, alloc), bytes(d))

    def rw(self, tag, cdb, off, length, write):
        if cdb[0] in (0x28, 0x2A):
            lba, blocks = int.from_bytes(cdb[2:6], "big"), int.from_bytes(cdb[7:9], "big")
        else:
            lba, blocks = int.from_bytes(cdb[2:10], "big"), int.from_bytes(cdb[10:14], "big")
        n = blocks * self.bs
        if lba + blocks > self.size // self.bs:
            return self.check(tag, ILLEGAL_REQUEST, 0x21, 0)   # LBA OUT OF RANGE
        if n > length:
            return self.check(tag, ILLEGAL_REQUEST, 0x24, 0)
        start = lba * self.bs
        if write:
            self.disk[start:start + n] = self.area[off:off + n]
            return self.complete(tag)
        self.data_in(tag, off, length, bytes(self.disk[start:start + n]))

    def scsi(self, tag, cdb, off, length):
        op = cdb[0]
        blocks = self.size // self.bs
        if op == 0x00:                                  # TEST UNIT READY
            self.complete(tag)
        elif op == 0x12:
            self.inquiry(tag, cdb, off, length)
        elif op == 0x25:                                # READ CAPACITY(10)
            self.data_in(tag, off, length,
                         (min(blocks - 1, 0xFFFFFFFF)).to_bytes(4, "big") +
                         self.bs.to_bytes(4, "big"))
        elif op == 0x9E and (cdb[1] & 0x1F) == 0x10:    # READ CAPACITY(16)
            d = (blocks - 1).to_bytes(8, "big") + self.bs.to_bytes(4, "big") + bytes(20)
            self.data_in(tag, off, min(length, int.from_bytes(cdb[10:14], "big")), d)
        elif op in (0x28, 0x88):
            self.rw(tag, cdb, off, length, False)
        elif op in (0x2A, 0x8A):
            self.rw(tag, cdb, off, length, True)
        elif op in (0x35, 0x91):                        # SYNCHRONIZE CACHE: nothing volatile
            self.complete(tag)
        elif op == 0x1A:                                # MODE SENSE(6): no pages, no WCE
            self.data_in(tag, off, min(length, cdb[4]), bytes([3, 0, 0, 0]))
        elif op == 0x03:                                # REQUEST SENSE: no sense
            self.data_in(tag, off, min(length, cdb[4]), sense(0, 0, 0))
        else:
            self.check(tag, ILLEGAL_REQUEST, 0x20, 0)   # INVALID COMMAND OPERATION CODE

    # ---- the submission ring ----
    def take(self):
        tail = U32.unpack_from(self.area, SQ_TAIL)[0]
        while self.sq_head != tail:
            off = self.sq_off + (self.sq_head % self.entries) * SQE_SIZE
            (tag, opcode, _, _, cdb_len, _, lun, data_off, data_len, _,
             cdb) = SQE.unpack_from(self.area, off)
            self.sq_head = (self.sq_head + 1) & 0xFFFFFFFF
            U32.pack_into(self.area, SQ_HEAD, self.sq_head)
            if opcode != OP_SCSI:
                continue                # aborts, resets, lost nexuses: nothing kept
            if (lun != self.lun or not 1 <= cdb_len <= 32 or
                    data_off + data_len > self.data_bytes):
                self.check(tag, ILLEGAL_REQUEST, 0x25, 0)
                continue
            self.scsi(tag, cdb[:cdb_len], self.data_off + data_off, data_len)

    def run(self):
        poll = select.poll()
        poll.register(self.sq_efd, select.POLLIN)
        poll.register(self.sock, select.POLLIN)
        self.stop = False
        while not self.stop:
            self.take()
            for fd, _ in poll.poll(1000):
                if fd == self.sq_efd:
                    os.read(self.sq_efd, 8)
                elif fd == self.sock.fileno():
                    msg = self.sock.recv(1024)
                    if not msg:
                        print("pyramdisk: vstord closed the connection", file=sys.stderr)
                        return 1
                    if HDR.unpack_from(msg)[0] == MSG_ERROR:
                        print("pyramdisk: vstord: " + msg[16:].split(b"\0")[0].decode(),
                              file=sys.stderr)
                        return 1
        return 0


def main():
    ap = argparse.ArgumentParser(description="a RAM disk service in Python")
    ap.add_argument("-s", "--socket", default=os.environ.get("VSTOR_SERVICE_SOCKET",
                                                             "/run/vstor/service.sock"))
    ap.add_argument("-t", "--target", default="iqn.2026-11.org.vstor:default")
    ap.add_argument("-n", "--name", default="pyramdisk")
    ap.add_argument("--size", type=int, default=64 << 20)
    ap.add_argument("lun", type=int)
    a = ap.parse_args()
    svc = Service(a.socket, a.name, a.target, a.lun, a.size)

    def stop(*_):
        svc.stop = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("pyramdisk: serving", file=sys.stderr, flush=True)
    return svc.run()


if __name__ == "__main__":
    sys.exit(main())
