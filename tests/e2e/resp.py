"""A minimal Redis client (RESP2) and a redis-server launcher for the tests.
Standard library only."""

import os
import shutil
import socket
import subprocess
import tempfile
import time


class RedisError(Exception):
    pass


class Redis:
    def __init__(self, port, password=None, db=0, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        if password:
            self.call("AUTH", password)
        if db:
            self.call("SELECT", str(db))

    def close(self):
        self.sock.close()

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._reply()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RedisError("unexpected reply %r" % line)

    def keys(self, pattern="*"):
        cursor, found = "0", []
        while True:
            cursor, batch = self.call("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
            found += batch
            if cursor == "0":
                return sorted(found)


def redis_server_path():
    return shutil.which("redis-server")


class RedisServer:
    """A redis-server of the test's own on a free loopback port, no persistence."""

    def __init__(self, port=None, password=None):
        import harness
        self.port = port or harness.free_port()
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="idlink-e2e-redis-")
        self.proc = None
        self.start()

    def start(self):
        cmd = [redis_server_path(), "--port", str(self.port), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--dir", self.dir,
               "--protected-mode", "no", "--loglevel", "warning"]
        if self.password:
            cmd += ["--requirepass", self.password]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                r = self.client()
                r.call("PING")
                r.close()
                return
            except (OSError, RedisError):
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start on port %d" % self.port)

    def client(self, db=0):
        return Redis(self.port, self.password, db)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db=0, password=None):
        pw = password if password is not None else self.password
        auth = ":%s@" % pw if pw else ""
        return "redis://%s127.0.0.1:%d/%d" % (auth, self.port, db)
