#!/usr/bin/env python3
"""serve.py DIR ADDR PORT [CERT KEY] - serve DIR read-only over HTTP, or HTTPS when a
certificate and key are given. The harness's stand-in for "a command that serves a
directory"; run it in a guest's gateway namespace with guest_netns_bg."""
import functools
import http.server
import ssl
import sys


def main() -> None:
    directory, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    server = http.server.ThreadingHTTPServer((addr, port), handler)
    if len(sys.argv) == 6:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(f"serving {directory} on {addr}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
