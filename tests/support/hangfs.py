"""A FUSE file system whose reads do not return: a hung network file system on demand.

Usage: hangfs.py MOUNTPOINT RELEASE

It serves one file, hang.warc.wet, a small valid WET file. Its size and attributes are
answered at once, but every read waits until the file RELEASE exists (outside the mount),
as a read on an NFS mount whose server went away waits until it comes back. The tests use
it to check that a worker reports such a map as stalled, moves its task elsewhere, and takes
its threads back once the read returns. It prints "ready" once mounted.
"""

import errno
import os
import stat
import sys
import threading
import time

from fuse import FUSE, FuseOSError, Operations

BODY = b"words that only a stalled read would give\r\n"
DATA = (
    b"WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    + BODY
    + b"\r\n\r\n"
)
NAME = "/hang.warc.wet"


class HangFs(Operations):
    def __init__(self, release):
        self.release = release

    def getattr(self, path, fh=None):
        if path == "/":
            return dict(st_mode=stat.S_IFDIR | 0o755, st_nlink=2)
        if path == NAME:
            return dict(st_mode=stat.S_IFREG | 0o444, st_nlink=1, st_size=len(DATA))
        raise FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        return [".", "..", NAME[1:]]

    def read(self, path, size, offset, fh):
        while not os.path.exists(self.release):
            time.sleep(0.05)
        return DATA[offset : offset + size]


def main():
    mount, release = sys.argv[1], sys.argv[2]

    def announce():
        while not os.path.exists(os.path.join(mount, NAME[1:])):
            time.sleep(0.05)
        print("ready", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    FUSE(HangFs(release), mount, foreground=True, nothreads=False, ro=True)


if __name__ == "__main__":
    main()
