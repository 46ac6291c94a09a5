#!/usr/bin/env python3
"""Static test mirror: HTTPS (or plain HTTP with --http) for one directory.

Supports GET and HEAD, single `Range: bytes=N-[M]` requests (206 / 416),
404 for anything missing, and fault injection per path:

  --fail-first N      answer 500 to the first N requests for a path
  --drop-after BYTES  once per path, close the connection after BYTES of body
  --corrupt PATH      serve PATH with every byte flipped (repeatable)
  --fault-path GLOB   paths --fail-first/--drop-after apply to (default: all)
  --rules FILE        JSON list of rules: {"path": GLOB, "fail_first": N,
                      "drop_after": BYTES, "corrupt": true, "status": CODE,
                      "body": TEXT, "redirect": URL, "ignore_range": true}

Prints the bound port on stdout when ready; logs one JSON object per request
(method, path, range, status, sent = body bytes sent, fault) to --log, written
before the response leaves so that a client never sees an unlogged answer. Exits by itself after
--max-seconds. Python standard library only.
"""

import argparse
import fnmatch
import json
import os
import posixpath
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, args):
        self.root = os.path.realpath(args.dir)
        self.rules = []
        if args.rules:
            with open(args.rules, encoding="utf-8") as f:
                self.rules = json.load(f)
        flag_rule = {"path": args.fault_path}
        if args.fail_first:
            flag_rule["fail_first"] = args.fail_first
        if args.drop_after is not None:
            flag_rule["drop_after"] = args.drop_after
        if len(flag_rule) > 1:
            self.rules.append(flag_rule)
        for path in args.corrupt:
            self.rules.append({"path": path, "corrupt": True})
        self.lock = threading.Lock()
        self.counts = {}
        self.dropped = set()
        self.log = open(args.log, "a", encoding="utf-8") if args.log else None

    def rules_for(self, path):
        return [r for r in self.rules if fnmatch.fnmatchcase(path, r.get("path", "*"))]

    def count(self, path):
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            return self.counts[path]

    def take_drop(self, path):
        with self.lock:
            if path in self.dropped:
                return False
            self.dropped.add(path)
            return True

    def record(self, entry, logged):
        """Log `entry` once (`logged` is a one-element list used as the flag)."""
        if self.log is None or logged[0]:
            return
        logged[0] = True
        with self.lock:
            self.log.write(json.dumps(entry) + "\n")
            self.log.flush()


def parse_range(header, size):
    """(start, end) inclusive for a single bytes range, None if absent, 'bad' if unsatisfiable."""
    if not header:
        return None
    if not header.startswith("bytes=") or "," in header:
        return "bad"
    first, _, last = header[len("bytes="):].partition("-")
    try:
        if first == "":
            n = int(last)
            return (max(size - n, 0), size - 1) if n > 0 and size > 0 else "bad"
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return "bad"
    if start >= size or end < start:
        return "bad"
    return (start, min(end, size - 1))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "test-mirror/1"

    def log_message(self, fmt, *args):  # quiet stderr; the JSON log is the record
        pass

    def do_HEAD(self):
        self.serve(head=True)

    def do_GET(self):
        self.serve(head=False)

    def serve(self, head):
        st = self.server.state
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        rng = self.headers.get("Range")
        entry = {"method": self.command, "path": path, "range": rng, "status": 0, "sent": 0, "fault": None}
        self.entry, self.logged = entry, [False]
        n = st.count(path)
        rules = st.rules_for(path)
        try:
            for r in rules:
                if n <= r.get("fail_first", 0):
                    entry["fault"] = "fail-first"
                    return self.reply(entry, 500, b"injected failure\n", head)
                if "redirect" in r:
                    entry["fault"] = "redirect"
                    entry["status"] = 302
                    self.send_response(302)
                    self.send_header("Location", r["redirect"])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if "status" in r:
                    entry["fault"] = "status"
                    return self.reply(entry, int(r["status"]), r.get("body", "").encode(), head)
                if "body" in r:
                    entry["fault"] = "body"
                    return self.reply(entry, 200, r["body"].encode(), head)
            data = self.read_file(path)
            if data is None:
                return self.reply(entry, 404, b"not found\n", head)
            if any(r.get("corrupt") for r in rules):
                entry["fault"] = "corrupt"
                data = bytes(b ^ 0xFF for b in data)
            drop = next((r["drop_after"] for r in rules if "drop_after" in r), None)
            if any(r.get("ignore_range") for r in rules):
                rng = None
            self.send_data(entry, data, rng, head, drop)
        finally:
            st.record(entry, self.logged)

    def end_headers(self):
        # log before the response leaves, so a client never sees it unlogged
        if getattr(self, "entry", None) is not None:
            self.server.state.record(self.entry, self.logged)
        super().end_headers()

    def read_file(self, path):
        rel = posixpath.normpath(path).lstrip("/")
        full = os.path.realpath(os.path.join(self.server.state.root, rel))
        if not full.startswith(self.server.state.root + os.sep) or not os.path.isfile(full):
            return None
        with open(full, "rb") as f:
            return f.read()

    def reply(self, entry, status, body, head):
        entry["status"] = status
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        entry["sent"] = 0 if head else len(body)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def send_data(self, entry, data, rng, head, drop):
        size = len(data)
        r = parse_range(rng, size)
        if r == "bad":
            entry["status"] = 416
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, end = r if r else (0, size - 1)
        body = data[start:end + 1]
        entry["status"] = 206 if r else 200
        self.send_response(entry["status"])
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        if r:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        dropping = not head and drop is not None and drop < len(body) and self.server.state.take_drop(entry["path"])
        if dropping:
            entry["fault"] = "drop-after"
        entry["sent"] = 0 if head else (drop if dropping else len(body))
        self.end_headers()
        if head:
            return
        if dropping:
            self.wfile.write(body[:drop])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)  # no TLS close_notify: a dropped connection
            except OSError:
                pass
            return
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, state, tls):
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.address_family = family
        super().__init__(addr, Handler)
        self.state = state
        self.tls = tls

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls is not None:
            sock.settimeout(10)
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        if self.tls is not None:
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return  # e.g. the client rejected our certificate
        super().finish_request(request, client_address)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", required=True)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cert", help="server certificate (PEM, chain allowed)")
    p.add_argument("--key", help="server private key (PEM)")
    p.add_argument("--http", action="store_true", help="serve plain HTTP instead of HTTPS")
    p.add_argument("--log")
    p.add_argument("--rules")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--drop-after", type=int)
    p.add_argument("--fault-path", default="*")
    p.add_argument("--corrupt", action="append", default=[])
    p.add_argument("--max-seconds", type=float, default=600)
    args = p.parse_args()
    tls = None
    if not args.http:
        if not (args.cert and args.key):
            p.error("HTTPS needs --cert and --key (or pass --http)")
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)
    server = Server((args.bind, args.port), State(args), tls)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    time.sleep(max(args.max_seconds, 0))
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
