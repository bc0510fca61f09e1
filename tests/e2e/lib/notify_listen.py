#!/usr/bin/env python3
# A stand-in for systemd's side of sd_notify(3): binds the datagram socket
# NOTIFY_SOCKET names, writes every message it gets to LOG as
#   <ms since start> <message with newlines as '|'>
# and the moment READY=1 arrives runs CHECK (a shell command: is what
# READY promises true right now?), logging "CHECK rc=N".  Ends on
# STOPPING=1 (after logging it) or after MAX_SECONDS.
#   notify_listen.py SOCKET LOG MAX_SECONDS CHECK
import os, socket, subprocess, sys, time

path, log, max_s, check = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
t0 = time.monotonic()
with open(log, "w", buffering=1) as out:
    out.write("LISTENING\n")
    while time.monotonic() - t0 < max_s:
        s.settimeout(max(0.05, max_s - (time.monotonic() - t0)))
        try:
            msg = s.recv(4096).decode(errors="replace")
        except socket.timeout:
            break
        ms = int((time.monotonic() - t0) * 1000)
        out.write("%d %s\n" % (ms, msg.replace("\n", "|")))
        if "READY=1" in msg.split("\n"):
            rc = subprocess.call(check, shell=True, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            out.write("CHECK rc=%d\n" % rc)
        if "STOPPING=1" in msg.split("\n"):
            break
os.unlink(path)
