"""Live-event subscribers for the integration tests (API.md section 8):
an EventSource reader over http.client and a small RFC 6455 WebSocket
client, each reading in a thread into a queue. Standard library only.

    sub = EventSource(stack, "/api/v1/events?rooms=3", headers=auth(tok))
    sub.status            # 200, or chatdesk's 401/404 (then sub.body)
    ev = sub.next(5)      # {"id": "...", "data": {...}} or None at the end
    sub.wait_for(lambda e: e["data"]["type"] == "typing", 5)
    sub.ended(5)          # True once the server closed the stream
    sub.close()
"""

import base64
import http.client
import json
import os
import queue
import socket
import struct
import threading
import time

END = object()


class _Reader:
    """What both subscribers share: a queue of events and the end mark."""

    def _start(self):
        self.q = queue.Queue()
        self.seen = []
        self.closed_by_server = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run_safe, daemon=True)
        self._thread.start()

    def _refused(self):
        """No stream: the server answered with an error (self.body)."""
        self.q = queue.Queue()
        self.q.put(END)
        self.seen = []
        self.closed_by_server = threading.Event()
        self.closed_by_server.set()

    def _run_safe(self):
        try:
            self._run()
        except (OSError, ValueError, http.client.HTTPException):
            pass
        finally:
            self.closed_by_server.set()
            self.q.put(END)

    def next(self, timeout):
        """The next event, or None on timeout or once the stream ended."""
        try:
            ev = self.q.get(timeout=timeout)
        except queue.Empty:
            return None
        if ev is END:
            self.q.put(END)
            return None
        self.seen.append(ev)
        return ev

    def wait_for(self, pred, timeout):
        """The first event (from now) for which pred(event) holds, or
        None after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ev = self.next(left)
            if ev is None:
                if self.closed_by_server.is_set():
                    return None
                continue
            try:
                if pred(ev):
                    return ev
            except (KeyError, TypeError):
                pass

    def drain(self, quiet=0.3):
        """Every event that arrives until none came for quiet seconds."""
        out = []
        while True:
            ev = self.next(quiet)
            if ev is None:
                return out
            out.append(ev)

    def ended(self, timeout):
        """True once the server ended the stream (within timeout)."""
        return self.closed_by_server.wait(timeout)


class EventSource(_Reader):
    """GET path with Accept: text/event-stream; status and headers of the
    answer; events parsed from id:/data: lines (data as JSON)."""

    def __init__(self, stack, path, headers=None, last_event_id=None,
                 port=None, timeout=30):
        h = {"Accept": "text/event-stream"}
        h.update(headers or {})
        if last_event_id is not None:
            h["Last-Event-ID"] = last_event_id
        self.conn = http.client.HTTPConnection(
            "127.0.0.1", port or stack.port, timeout=timeout)
        self.conn.request("GET", path, headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = dict((k.lower(), v) for k, v in self.resp.getheaders())
        self.body = b""
        if self.status != 200:
            self.body = self.resp.read()
            self.conn.close()
            self._refused()
            return
        self.comments = []
        self._start()

    @property
    def json(self):
        return json.loads(self.body.decode())

    def _run(self):
        ev = {}
        while not self._stop:
            line = self.resp.readline()
            if not line:
                return
            line = line.decode("utf-8").rstrip("\n").rstrip("\r")
            if line == "":
                if "data" in ev:
                    ev["data"] = json.loads(ev["data"])
                    self.q.put(ev)
                ev = {}
            elif line.startswith(":"):
                self.comments.append(line)
            else:
                k, _, v = line.partition(":")
                if v.startswith(" "):
                    v = v[1:]
                if k == "data":
                    ev["data"] = ev["data"] + "\n" + v if "data" in ev else v
                elif k in ("id", "event", "retry"):
                    ev[k] = v

    def close(self):
        self._stop = True
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self.conn.close()


class WebSocket(_Reader):
    """A minimal RFC 6455 client: the opening handshake, unmasked text
    frames from the server, ping answered with pong, close. Frames it
    sends are masked, as clients' must be."""

    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, stack, path, headers=None, port=None, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port or stack.port),
                                             timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1",
                 "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status_line, *hdrs = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1]) if status_line else 0
        self.headers = {}
        for h in hdrs:
            k, _, v = h.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.body = b""
        if self.status != 101:
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
            self.body = self.buf[:n]
            self.sock.close()
            self._refused()
            return
        self.sock.settimeout(None)
        self._start()

    @property
    def json(self):
        return json.loads(self.body.decode())

    def _exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send(self, opcode, payload=b""):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + body)

    def _run(self):
        msg = b""
        while not self._stop:
            b0, b1 = self._exact(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._exact(8))[0]
            mask = self._exact(4) if b1 & 0x80 else None
            data = self._exact(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 0x9:           # ping
                self._send(0xA, data)
            elif opcode == 0x8:         # close
                self.close_payload = data
                try:
                    self._send(0x8, data[:2])
                except OSError:
                    pass
                return
            elif opcode in (0x0, 0x1, 0x2):
                msg += data
                if b0 & 0x80:
                    self.q.put({"data": json.loads(msg.decode("utf-8"))})
                    msg = b""

    def close(self):
        self._stop = True
        try:
            self._send(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
