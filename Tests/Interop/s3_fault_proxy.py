#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of a real S3 store, for tests.

    python3 s3_fault_proxy.py UPSTREAM_URL

Prints the port it listens on (127.0.0.1) as its first line, then forwards
every request to UPSTREAM_URL unchanged, the Host header included, so that a
request signed for the proxy (SigV4 signs the host) is accepted upstream (an
S3 store addressed by path, as Ceph's RADOS Gateway is, checks the signature
against the Host it receives).

Faults are set with POST /__faults and a JSON object (GET /__faults reads them
and what was counted):
    {"fail_puts": N}        the next N PUTs and POSTs are answered 503 SlowDown
                            without reaching the store (with "fail_path": TEXT, only
                            those whose path holds TEXT; "" for all)
    {"hold_puts": true}     PUTs and POSTs wait until it is set to false
    {"fail_next": N, "fail_status": 503 or 429, "retry_after": "1"}
                            the next N requests of any kind are answered with that
                            status (SlowDown; for 429, with Retry-After when given)
    {"expired_key": "ID"}   requests signed with access key ID are answered 400
                            ExpiredToken (credentials that ran out); "" for none
"""
import http.client
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
state = {"fail_puts": 0, "hold_puts": False, "failed": 0, "forwarded_puts": 0,
         "fail_next": 0, "fail_status": 503, "retry_after": "", "expired_key": "", "expired": 0, "fail_path": ""}
cond = threading.Condition()

SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
             b'<Message>injected by s3_fault_proxy</Message></Error>')


EXPIRED = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>ExpiredToken</Code>'
           b'<Message>injected by s3_fault_proxy</Message></Error>')


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def control(self, data):
        with cond:
            if self.command == "POST":
                update = json.loads(data or b"{}")
                for key in ("fail_puts", "hold_puts", "fail_next", "fail_status", "retry_after", "expired_key", "fail_path"):
                    if key in update:
                        state[key] = update[key]
                cond.notify_all()
            self.answer(200, json.dumps(state).encode(), [("Content-Type", "application/json")])

    def forward(self):
        data = self.body()
        if self.path.startswith("/__faults"):
            return self.control(data)
        with cond:
            key = state["expired_key"]
            if key and ("Credential=" + key + "/") in self.headers.get("Authorization", ""):
                state["expired"] += 1
                return self.answer(400, EXPIRED, [("Content-Type", "application/xml")])
            if state["fail_next"] > 0:
                state["fail_next"] -= 1
                state["failed"] += 1
                status = int(state["fail_status"])
                headers = [("Content-Type", "application/xml")]
                if status == 429 and state["retry_after"]:
                    headers.append(("Retry-After", state["retry_after"]))
                return self.answer(status, SLOW_DOWN, headers)
        if self.command in ("PUT", "POST"):
            with cond:
                while state["hold_puts"]:
                    cond.wait()
                if state["fail_puts"] > 0 and state["fail_path"] in self.path:
                    state["fail_puts"] -= 1
                    state["failed"] += 1
                    return self.answer(503, SLOW_DOWN, [("Content-Type", "application/xml")])
                state["forwarded_puts"] += 1
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "connection")}
        if self.command in ("PUT", "POST") or data:
            headers["Content-Length"] = str(len(data))
        conn.request(self.command, self.path, body=data if data else None, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length")]
        self.send_response(resp.status)
        for k, v in kept:
            self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(payload)))
        else:
            length = resp.getheader("Content-Length")
            if length is not None:
                self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
