#!/usr/bin/env python3
"""POSIX byte-range locks, probed the same way on any filesystem (issue 13 §2).

usage: range_locks.py <path for the holder> <path for the prober>

The holder (this process) takes, splits, merges, downgrades and upgrades fcntl record locks on the first path; a
forked prober opens the second path (the same file: on the same mount, another mount, or local disk) and asks
F_GETLK / tries F_SETLK. Then OFD locks. Each line printed is one answer; run it on ext4 and on a mount and compare.
"""
import errno
import fcntl
import os
import struct
import sys

F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
F_OFD_GETLK, F_OFD_SETLK = 36, 37
FLOCK = "hhxxxxqqixxxx"  # struct flock on 64-bit Linux: l_type, l_whence, l_start, l_len, l_pid
TYPES = {F_RDLCK: "R", F_WRLCK: "W", F_UNLCK: "U"}

holder_path, prober_path = sys.argv[1], sys.argv[2]
holder_pid = os.getpid()


def call(fd, cmd, kind, start, length):
    try:
        return struct.unpack(FLOCK, fcntl.fcntl(fd, cmd, struct.pack(FLOCK, kind, os.SEEK_SET, start, length, 0)))
    except OSError as e:
        return errno.errorcode[e.errno]


def setlk(fd, kind, start, length, cmd=fcntl.F_SETLK):
    answer = call(fd, cmd, kind, start, length)
    return "ok" if isinstance(answer, tuple) else answer


def getlk(fd, kind, start, length, cmd=fcntl.F_GETLK):
    answer = call(fd, cmd, kind, start, length)
    if not isinstance(answer, tuple):
        return answer
    kind, _, start, length, pid = answer
    if kind == F_UNLCK:
        return "none"
    who = "holder" if pid == holder_pid else "ofd(-1)" if pid == -1 else "pid %d" % pid
    return "%s %d+%d %s" % (TYPES[kind], start, length, who)


def probe(title, *asks):
    """Forks a prober (record locks are per process) that opens the prober path and answers each ask."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        fd = os.open(prober_path, os.O_RDWR)
        lines = []
        for ask in asks:
            what, kind, start, length = ask
            if what == "get":
                lines.append("  F_GETLK %s %d+%d -> %s" % (TYPES[kind], start, length, getlk(fd, kind, start, length)))
            else:
                lines.append("  F_SETLK %s %d+%d -> %s" % (TYPES[kind], start, length, setlk(fd, kind, start, length)))
                setlk(fd, F_UNLCK, start, length)
        os.write(write, ("\n".join(lines) + "\n").encode())
        os._exit(0)
    os.close(write)
    out = b""
    while True:
        chunk = os.read(read, 65536)
        if not chunk:
            break
        out += chunk
    os.close(read)
    os.waitpid(child, 0)
    print(title)
    sys.stdout.write(out.decode())
    sys.stdout.flush()


fd = os.open(holder_path, os.O_RDWR)
print("holder: W 0+100, unlock 40+20 (split), R 200+100, R 300+100 (merge), W 500+EOF:",
      setlk(fd, F_WRLCK, 0, 100), setlk(fd, F_UNLCK, 40, 20), setlk(fd, F_RDLCK, 200, 100),
      setlk(fd, F_RDLCK, 300, 100), setlk(fd, F_WRLCK, 500, 0))
probe("prober:",
      ("get", F_WRLCK, 0, 10), ("get", F_WRLCK, 45, 10), ("get", F_WRLCK, 90, 20), ("get", F_RDLCK, 210, 10),
      ("get", F_WRLCK, 250, 10), ("get", F_WRLCK, 399, 2), ("get", F_RDLCK, 10000, 1),
      ("set", F_WRLCK, 40, 20), ("set", F_WRLCK, 50, 20), ("set", F_RDLCK, 250, 10), ("set", F_WRLCK, 600, 10),
      ("set", F_WRLCK, 400, 100))

print("holder: downgrade 0+40 to R:", setlk(fd, F_RDLCK, 0, 40))
probe("prober:", ("set", F_RDLCK, 10, 10), ("set", F_WRLCK, 10, 10), ("get", F_WRLCK, 0, 10), ("get", F_WRLCK, 60, 10))

print("holder: upgrade 200+50 to W:", setlk(fd, F_WRLCK, 200, 50))
probe("prober:", ("get", F_RDLCK, 210, 10), ("get", F_WRLCK, 260, 10), ("set", F_RDLCK, 240, 20))

print("holder: unlock 0+EOF, then W 1000+10 and R 2000+10")
setlk(fd, F_UNLCK, 0, 0)
setlk(fd, F_WRLCK, 1000, 10)
setlk(fd, F_RDLCK, 2000, 10)
probe("prober:", ("get", F_WRLCK, 0, 1000), ("get", F_WRLCK, 0, 0))

other = os.open(holder_path, os.O_RDONLY)
os.close(other)
probe("holder closed another descriptor of the file (POSIX: every record lock of the process goes):",
      ("get", F_WRLCK, 0, 0))

ofd1 = os.open(holder_path, os.O_RDWR)
ofd2 = os.open(holder_path, os.O_RDWR)
print("OFD: W 0+10 on one description:", setlk(ofd1, F_WRLCK, 0, 10, F_OFD_SETLK),
      "W 5+10 on another of the same process:", setlk(ofd2, F_WRLCK, 5, 10, F_OFD_SETLK),
      "R 20+10 on it:", setlk(ofd2, F_RDLCK, 20, 10, F_OFD_SETLK))
probe("prober:", ("get", F_WRLCK, 0, 1), ("set", F_RDLCK, 25, 1), ("set", F_WRLCK, 25, 1))
third = os.open(holder_path, os.O_RDONLY)
os.close(third)
probe("OFD: closing a third descriptor keeps OFD locks:", ("get", F_WRLCK, 0, 1))
os.close(ofd1)
probe("OFD: closing its description releases it:", ("get", F_WRLCK, 0, 1), ("get", F_WRLCK, 20, 1))
os.close(ofd2)
os.close(fd)
probe("all closed:", ("get", F_WRLCK, 0, 0))
