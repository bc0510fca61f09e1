#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
An implementation of dm-crypt's aes-xts-plain64 that shares no code with
vstor's crypt filter, for its interop tests (tests/unit/test_filter_crypt.c).

  xts_ref.py encrypt|decrypt KEY_FILE IN OUT [--unit N] [--offset BYTES]
  xts_ref.py fingerprint KEY_FILE

encrypt/decrypt: IN is taken as the bytes of the disk from byte --offset on
(default 0); every --unit bytes (default 512) are one XTS data unit whose
tweak is the little-endian number of its first 512-byte sector (plain64; as
dm-crypt without --iv-large-sectors).  Each unit is done twice, with
python3-cryptography's XTS mode and with XTS written out here over AES-ECB
(IEEE 1619-2007 5.3), and the two must agree.

fingerprint: what the filter records of a key: the first 16 bytes of
SHA-256("vstor crypt key fingerprint v1" || key), in hex.
"""
import argparse
import hashlib
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

FP_LABEL = b"vstor crypt key fingerprint v1"


def xts_by_hand(key, tweak, data, encrypt):
    """IEEE 1619 XTS-AES of one data unit (a multiple of 16 bytes)."""
    k1, k2 = key[:32], key[32:]
    t = Cipher(algorithms.AES(k2), modes.ECB()).encryptor().update(tweak)
    t = int.from_bytes(t, "little")
    masks = []
    for _ in range(len(data) // 16):
        masks.append(t.to_bytes(16, "little"))
        # multiply by alpha in GF(2^128), x^128 + x^7 + x^2 + x + 1
        t <<= 1
        if t >> 128:
            t = (t & ((1 << 128) - 1)) ^ 0x87
    mask = b"".join(masks)
    pre = bytes(a ^ b for a, b in zip(data, mask))
    c = Cipher(algorithms.AES(k1), modes.ECB())
    op = c.encryptor() if encrypt else c.decryptor()
    mid = op.update(pre) + op.finalize()
    return bytes(a ^ b for a, b in zip(mid, mask))


def xts_library(key, tweak, data, encrypt):
    c = Cipher(algorithms.AES(key), modes.XTS(tweak))
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def convert(key, data, unit, offset, encrypt):
    if offset % 512 or offset % unit or len(data) % unit:
        sys.exit("xts_ref: offset and length must be whole units")
    out = bytearray()
    for pos in range(0, len(data), unit):
        sector = (offset + pos) // 512
        tweak = sector.to_bytes(16, "little")      # plain64: LE 64-bit, then zeroes
        piece = data[pos:pos + unit]
        a = xts_library(key, tweak, piece, encrypt)
        b = xts_by_hand(key, tweak, piece, encrypt)
        if a != b:
            sys.exit(f"xts_ref: the two XTS implementations disagree at sector {sector}")
        out += a
    return bytes(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["encrypt", "decrypt", "fingerprint"])
    p.add_argument("key_file")
    p.add_argument("inp", nargs="?")
    p.add_argument("out", nargs="?")
    p.add_argument("--unit", type=int, default=512)
    p.add_argument("--offset", type=int, default=0)
    a = p.parse_args()
    key = open(a.key_file, "rb").read()
    if len(key) != 64:
        sys.exit("xts_ref: a key is 64 bytes")
    if a.what == "fingerprint":
        print(hashlib.sha256(FP_LABEL + key).hexdigest()[:32])
        return
    data = open(a.inp, "rb").read()
    res = convert(key, data, a.unit, a.offset, a.what == "encrypt")
    open(a.out, "wb").write(res)


if __name__ == "__main__":
    main()
