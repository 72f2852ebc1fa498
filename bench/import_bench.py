#!/usr/bin/python3
"""Bulk import benchmark (SPEC section 9), run by bench/run.sh.

Usage: import_bench.py IDLINKD TMPDIR CREATE_RPS REPEAT

Each case starts a fresh idlinkd (--sync full) on a free loopback port and
uploads one file with curl -F, as a browser form would:
  - csv: 100,000 customers in seed 003's columns (Python's csv module), rows
    per second over the whole request (upload, parse, one transaction, fsync),
    against creating customers one POST at a time (the target's reference),
    and for comparison against CREATE_RPS, the customer creates per second
    that wrk measured in the same bench run with 32 connections;
  - xlsx: the same customers written by openpyxl, rows per second against the
    csv rate;
  - one POST at a time: 2,000 creates over one keep-alive connection, each
    waiting for its answer;
  - memory: a 64 MiB csv of customers, idlinkd's peak resident memory
    (VmHWM) after the import less its resident memory before, against the
    file's size; then a 64 MiB csv whose rows all lack an email (every row
    read and skipped, nothing stored), which isolates the upload and reading
    path from the store's write transaction.
Prints a table and the targets with PASS or MISS, and the median of REPEAT
runs for the rate cases.
"""
import csv
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import openpyxl

ROWS = 100_000
BIG = 64 * 1024 * 1024
IMPORT_TARGET = 5.0   # csv import rows/s over creates one POST at a time
XLSX_TARGET = 0.3     # xlsx rows/s over csv rows/s
MEMORY_TARGET = 4.0   # peak memory growth over the file's size


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, idlinkd, tmp):
        self.dir = tempfile.mkdtemp(prefix="idlink-import-bench-", dir=tmp)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [idlinkd, "--listen", f"127.0.0.1:{self.port}", "--data", self.dir + "/data",
             "--sync", "full", "--max-upload", str(2 * BIG)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "TMPDIR": self.dir})
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("idlinkd did not start")

    def status(self, key):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def upload(self, path, route="/api/v1/customers/import/"):
        t0 = time.monotonic()
        out = subprocess.run(["curl", "-s", "-S", "-F", f"file=@{path}",
                              f"http://127.0.0.1:{self.port}{route}"],
                             check=True, capture_output=True).stdout
        elapsed = time.monotonic() - t0
        body = json.loads(out)
        if "created" not in body:
            raise SystemExit(f"import failed: {out[:300]!r}")
        return body, elapsed

    def close(self):
        self.proc.terminate()
        self.proc.wait(30)
        shutil.rmtree(self.dir, ignore_errors=True)


def customer(i):
    return [f"First{i} Last{i}", f"user{i}@example.com", f"{i} Some Street, Istanbul",
            f"+90 555 {i:07d}", "1", "0", "y", "active"]


def write_csv(path, rows=None, size=None, email=True):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        i = 0
        while (rows is not None and i < rows) or (size is not None and f.tell() < size - 200):
            row = customer(i)
            if not email:
                row[1] = ""
            w.writerow(row)
            i += 1
    return i


def write_xlsx(path, rows):
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(["Name", "Email", "Address", "Phone", "Opt_email", "Opt_phone", "Opt_chat",
               "Status"])
    for i in range(rows):
        ws.append(customer(i))
    wb.save(path)


def rate_runs(idlinkd, tmp, path, repeat):
    rates = []
    for _ in range(repeat):
        srv = Server(idlinkd, tmp)
        try:
            body, elapsed = srv.upload(path)
            if body["created"] != ROWS:
                raise SystemExit(f"expected {ROWS} created, got {body['created']}")
            rates.append(ROWS / elapsed)
        finally:
            srv.close()
    return statistics.median(rates)


def one_at_a_time(idlinkd, tmp, n=2000):
    srv = Server(idlinkd, tmp)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port)
        t0 = time.monotonic()
        for i in range(n):
            body = json.dumps({"channel": 1, "email": f"one{i}@example.com",
                               "channel_code": f"one{i}", "first_name": "One"})
            conn.request("POST", "/api/v1/customers/", body,
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status != 201:
                raise SystemExit(f"create answered {r.status}")
        return n / (time.monotonic() - t0)
    finally:
        srv.close()


def memory(idlinkd, tmp, path):
    srv = Server(idlinkd, tmp)
    try:
        before = srv.status("VmRSS")
        body, elapsed = srv.upload(path)
        return srv.status("VmHWM") - before, body, elapsed
    finally:
        srv.close()


def main():
    idlinkd, tmp, create_rps, repeat = sys.argv[1], sys.argv[2], float(sys.argv[3]), \
        int(sys.argv[4])
    work = tempfile.mkdtemp(prefix="idlink-import-files-", dir=tmp)
    try:
        csv_path, xlsx_path = work + "/customers.csv", work + "/customers.xlsx"
        big_path, skip_path = work + "/big.csv", work + "/skipped.csv"
        write_csv(csv_path, rows=ROWS)
        write_xlsx(xlsx_path, ROWS)
        big_rows = write_csv(big_path, size=BIG)
        skip_rows = write_csv(skip_path, size=BIG, email=False)
        csv_rate = rate_runs(idlinkd, tmp, csv_path, repeat)
        xlsx_rate = rate_runs(idlinkd, tmp, xlsx_path, repeat)
        single = one_at_a_time(idlinkd, tmp)
        grown, big_body, big_s = memory(idlinkd, tmp, big_path)
        skip_grown, skip_body, skip_s = memory(idlinkd, tmp, skip_path)
        big_size, skip_size = os.path.getsize(big_path), os.path.getsize(skip_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mib = 1024 * 1024
    print(f"\nbulk import (idlinkd --sync full; median of {repeat} fresh servers per rate)")
    print(f"{'case':44} {'rows/s':>10} {'ratio':>8}")
    print(f"{'customer create, one per request (wrk -c32)':44} {create_rps:10.0f} {'':>8}")
    print(f"{'customer create, one POST at a time':44} {single:10.0f} {'':>8}")
    print(f"{'csv import, 100k customers':44} {csv_rate:10.0f} "
          f"{csv_rate / single:7.2f}x")
    print(f"{'  (over creates by 32 concurrent clients)':44} {'':>10} "
          f"{csv_rate / create_rps:7.2f}x")
    print(f"{'xlsx import, 100k customers':44} {xlsx_rate:10.0f} "
          f"{xlsx_rate / csv_rate:7.2f}x")
    print(f"\n{'upload':44} {'file MiB':>9} {'rows':>8} {'peak MiB':>9} {'ratio':>7} {'s':>6}")
    print(f"{'64 MiB csv, every row stored':44} {big_size / mib:9.1f} {big_body['created']:8d} "
          f"{grown / mib:9.1f} {grown / big_size:6.2f}x {big_s:6.1f}")
    print(f"{'64 MiB csv, every row skipped':44} {skip_size / mib:9.1f} "
          f"{len(skip_body['skipped']):8d} {skip_grown / mib:9.1f} "
          f"{skip_grown / skip_size:6.2f}x {skip_s:6.1f}")
    if big_body["created"] != big_rows or len(skip_body["skipped"]) != skip_rows:
        print("  (row counts differ from the files': see the import answers)")

    def target(label, value, goal, above=True):
        ok = value >= goal if above else value < goal
        sign = ">=" if above else "<"
        print(f"  {label:44} {sign} {goal:.2f}x: {value:6.2f}x  {'PASS' if ok else 'MISS'}")

    print("\nimport targets:")
    target("csv import over one POST at a time", csv_rate / single, IMPORT_TARGET)
    target("xlsx import over csv import", xlsx_rate / csv_rate, XLSX_TARGET)
    target("peak memory of a 64 MiB upload / file", grown / big_size, MEMORY_TARGET, False)


if __name__ == "__main__":
    main()
