#!/usr/bin/env python3
"""The system-call side of the "workloads" benchmark, the same for every subject (CassaFS mount, bindfs, local disk).

  fsops.py meta DIR N                 create, stat, rename, unlink N files in DIR, one process, in turn;
                                      prints "create R stat R rename R unlink R" (operations per second)
  fsops.py randread FILE JOBS SECS    4 KiB reads at random aligned offsets, JOBS processes; prints IOPS
  fsops.py randwrite FILE JOBS SECS   4 KiB writes at random aligned offsets, JOBS processes, each fsyncs at the
                                      end (inside the timing); prints IOPS

Plain open/close, no flock, as mdtest and fio do. Every process opens the file itself.
"""
import os
import random
import sys
import time
from multiprocessing import Process, Queue

BLOCK = 4096


def meta(directory, n):
    names = [os.path.join(directory, "f%06d" % i) for i in range(n)]
    moved = [os.path.join(directory, "g%06d" % i) for i in range(n)]
    rates = []
    start = time.monotonic()
    for name in names:
        os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
    rates.append(n / (time.monotonic() - start))
    start = time.monotonic()
    for name in names:
        os.stat(name)
    rates.append(n / (time.monotonic() - start))
    start = time.monotonic()
    for old, new in zip(names, moved):
        os.rename(old, new)
    rates.append(n / (time.monotonic() - start))
    start = time.monotonic()
    for name in moved:
        os.unlink(name)
    rates.append(n / (time.monotonic() - start))
    print("create %.1f stat %.1f rename %.1f unlink %.1f" % tuple(rates))


def _job(path, write, seconds, seed, results):
    rng = random.Random(seed)
    fd = os.open(path, os.O_RDWR if write else os.O_RDONLY)
    blocks = os.fstat(fd).st_size // BLOCK
    data = os.urandom(BLOCK)
    count = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(64):
            offset = rng.randrange(blocks) * BLOCK
            if write:
                os.pwrite(fd, data, offset)
            else:
                os.pread(fd, BLOCK, offset)
        count += 64
    if write:
        os.fsync(fd)
    os.close(fd)
    results.put(count)


def random_io(path, jobs, seconds, write):
    results = Queue()
    start = time.monotonic()
    workers = [Process(target=_job, args=(path, write, seconds, seed, results)) for seed in range(jobs)]
    for w in workers:
        w.start()
    total = sum(results.get() for _ in workers)
    for w in workers:
        w.join()
    print("%.1f" % (total / (time.monotonic() - start)))


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "meta":
        meta(sys.argv[2], int(sys.argv[3]))
    elif what in ("randread", "randwrite"):
        random_io(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), what == "randwrite")
    else:
        sys.exit("unknown workload " + what)
