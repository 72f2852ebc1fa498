#!/usr/bin/env python3
"""Holds idle connections and slow bodies open against idlinkd and measures
/healthz meanwhile: how one client's open connections affect everybody else.

usage: idle_flood.py PORT IDLE SLOW PROBES

Opens IDLE TCP connections that send nothing and SLOW connections that send a
POST /identify head announcing 100000 bytes of body and then one byte every
2 s, then probes GET /healthz PROBES times (one new connection each, 0.1 s
apart) and prints "P50_MS P99_MS MAX_MS FAILED", the latencies of the probes
and how many did not answer 200 within 10 s. Standard library only.
"""
import http.client
import socket
import sys
import time

HEAD = (b"POST /identify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")


def probe(port):
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/healthz")
        ok = c.getresponse().status == 200
        c.close()
    except OSError:
        ok = False
    return (time.monotonic() - t0) * 1000, ok


def main():
    port, idle, slow, probes = (int(a) for a in sys.argv[1:5])
    held = []
    try:
        for _ in range(idle):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        trickling = []
        for _ in range(slow):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(HEAD)
            trickling.append(s)
        held += trickling
        times, failed, last_byte = [], 0, time.monotonic()
        for _ in range(probes):
            ms, ok = probe(port)
            times.append(ms)
            failed += not ok
            if time.monotonic() - last_byte >= 2:
                for s in trickling:
                    try:
                        s.sendall(b" ")
                    except OSError:
                        pass
                last_byte = time.monotonic()
            time.sleep(0.1)
        times.sort()
        print("%.2f %.2f %.2f %d" % (times[len(times) // 2],
                                     times[min(len(times) - 1, len(times) * 99 // 100)],
                                     times[-1], failed))
    finally:
        for s in held:
            s.close()


if __name__ == "__main__":
    main()
