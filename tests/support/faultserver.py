#!/usr/bin/env python3
"""A real HTTP/1.1 file server on loopback that misbehaves on request, for wetmr's tests.

    faultserver.py ROOT PLAN.json LOG [--rate BYTES_PER_SECOND]

Serves the files under ROOT (GET, Range, ETag) on a free port of 127.0.0.1 and prints the
port on its first line of standard output. PLAN maps a file's URL path ("/a.wet.gz") to a
list of faults, one per request to that path, in order; once the list is used up, the file
is served normally. A fault is an object:

    {"status": 503, "retry_after": 1}   answer with that status (and Retry-After)
    {"redirect": "/b.wet.gz"}           answer 302 to another path
    {"cut_at": N}                       announce the whole answer, send up to file byte N,
                                        then close the connection
    {"stall_at": N, "seconds": S}       send up to file byte N, then send nothing for S
                                        seconds, then close
    {"ignore_range": true}              answer 200 with the whole file, whatever Range says
    {"etag": "\"other\""}               serve the file under another ETag

Faults combine (a cut in an answer that ignores the range). Every request is logged to LOG
as one JSON line: path, Range, If-Range, User-Agent, and the status sent. --rate paces
every answer's body to that many bytes per second, per connection.
"""

import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, PLAN_PATH, LOG_PATH = sys.argv[1], sys.argv[2], sys.argv[3]
RATE = None
if "--rate" in sys.argv:
    RATE = float(sys.argv[sys.argv.index("--rate") + 1])

with open(PLAN_PATH) as f:
    PLAN = json.load(f)
LOCK = threading.Lock()
LOG = open(LOG_PATH, "a", buffering=1)
ETAG = '"v1"'


def next_fault(path):
    with LOCK:
        faults = PLAN.get(path)
        if faults:
            return faults.pop(0)
    return {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, status):
        LOG.write(json.dumps({
            "path": self.path,
            "range": self.headers.get("Range"),
            "if_range": self.headers.get("If-Range"),
            "user_agent": self.headers.get("User-Agent"),
            "status": status,
        }) + "\n")

    def simple(self, status, headers=()):
        self.record(status)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        fault = next_fault(self.path)
        if "status" in fault:
            headers = []
            if "retry_after" in fault:
                headers.append(("Retry-After", str(fault["retry_after"])))
            return self.simple(fault["status"], headers)
        if "redirect" in fault:
            return self.simple(302, [("Location", fault["redirect"])])
        path = os.path.join(ROOT, self.path.lstrip("/"))
        if not os.path.isfile(path):
            return self.simple(404)
        with open(path, "rb") as f:
            data = f.read()
        etag = fault.get("etag", ETAG)
        start, status = 0, 200
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and not fault.get("ignore_range") and if_range in (None, etag):
            start = int(wanted.split("=")[1].split("-")[0])
            if start >= len(data):
                return self.simple(416, [("Content-Range", "bytes */%d" % len(data))])
            status = 206
        self.record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        if status == 206:
            self.send_header(
                "Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.end_headers()
        end = len(data)
        for key in ("cut_at", "stall_at"):
            if key in fault:
                end = max(start, min(end, fault[key]))
        self.send_body(data, start, end)
        if "stall_at" in fault:
            time.sleep(fault["seconds"])
        if end < len(data):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def send_body(self, data, start, end):
        step = 64 << 10
        began = time.monotonic()
        at = start
        try:
            while at < end:
                chunk = data[at:min(end, at + step)]
                self.wfile.write(chunk)
                at += len(chunk)
                if RATE:
                    ahead = (at - start) / RATE - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that hangs up (after a stall, during a cut) is part of the tests.
        pass


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
