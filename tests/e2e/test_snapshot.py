"""Snapshots: idlink-dump, idlink-restore and idlink-check --snapshot (SPEC section 5)."""

import hashlib
import json
import os
import stat
import threading
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import zlib

import harness
import msgpack_lite as mp


def tool(name):
    env = {"idlink-dump": "IDLINK_DUMP", "idlink-restore": "IDLINK_RESTORE",
           "idlink-check": "IDLINK_CHECK"}.get(name)
    return (env and os.environ.get(env)) or os.path.join(harness.BUILD, name)


def run(name, *args, stdin=None):
    p = subprocess.run([tool(name), *args], input=stdin, capture_output=True, timeout=120,
                       env=harness.clean_env())
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


INT64_MAX = 2 ** 63 - 1


def store_digest(data_dir):
    """What a restore must not change: the data file's bytes."""
    path = os.path.join(data_dir, "data.mdb")
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class SnapshotBase(harness.ServerTestCase):
    """A server, a folder of the test's own, and the tools."""

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="idlink-e2e-snap-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def seed(self, srv, n=30, bridges=True):
        for i in range(n):
            st, _ = srv.post("/identify", {"email": "u%d@x.io" % i, "phoneNumber": str(i // 3)})
            self.assertEqual(st, 200)
        # Bridge a few identities so there are merges with secondaries (the
        # store remembers each bridge: SPEC section 10).
        for i in range(0, n - 3, 6) if bridges else ():
            srv.post("/identify", {"email": "u%d@x.io" % i, "phoneNumber": str(i // 3 + 1)})

    def dump(self, srv, name="snap.bin"):
        out = self.path(name)
        rc, stdout, err = run("idlink-dump", "--data", srv.data_dir, "-o", out, "--quiet")
        self.assertEqual(rc, 0, err)
        self.assertEqual(stdout, b"", "nothing but the snapshot goes to stdout")
        return out

    def restored_server(self, snapshot, *extra):
        target = tempfile.mkdtemp(prefix="idlink-e2e-restored-")
        self.addCleanup(shutil.rmtree, target, True)
        rc, _, err = run("idlink-restore", "--data", target, "-i", snapshot, "--quiet", *extra)
        self.assertEqual(rc, 0, err)
        srv = self.start_server(data_dir=target)
        return srv



class SnapshotTests(SnapshotBase):
    def test_format_as_documented(self):
        # Contacts alone, no bridge: version 1 (bridges or records make it 2).
        self.seed(self.srv, bridges=False)
        with open(self.dump(self.srv), "rb") as f:
            buf = f.read()
        header, rows, trailer, at = mp.read_snapshot(buf)
        self.assertEqual(header["format"], "idlink-snapshot")
        self.assertEqual(header["version"], 1)
        self.assertEqual(header["contacts"], len(rows))
        self.assertEqual(header["last_seq"], self.srv.last_seq())
        self.assertLess(abs(header["created_at"] / 1000 - time.time()), 60)
        self.assertEqual(trailer, {"count": len(rows), "crc32": zlib.crc32(buf[:at])})
        self.assertEqual([r[0] for r in rows], sorted(r[0] for r in rows))
        for r in rows:
            self.assertEqual(len(r), 8, r)
            st, _, contact, _ = self.srv.request("GET", "/contacts/%d" % r[0])
            self.assertEqual(st, 200)
            self.assertEqual((r[1], r[2], r[3], r[4]),
                             (contact["email"], contact["phoneNumber"], contact["linkedId"],
                              0 if contact["linkPrecedence"] == "primary" else 1))
            self.assertIsNone(r[7])

    def test_stdout_and_check(self):
        self.seed(self.srv, 9)
        rc, stdout, err = run("idlink-dump", "--data", self.srv.data_dir)
        self.assertEqual(rc, 0, err)
        rc, out, err = run("idlink-check", "--snapshot", "-", stdin=stdout)
        self.assertEqual(rc, 0, out + err.encode())
        self.assertIn(b"ok", out)
        self.assertEqual(os.listdir(self.tmp), [], "no file written for stdout dumps")

    def test_progress_on_a_terminal_only(self):
        self.seed(self.srv, 9)
        out = self.path("tty.bin")
        for quiet in ((), ("--quiet",)):
            cmd = " ".join([tool("idlink-dump"), "--data", self.srv.data_dir, "-o", out, *quiet])
            # script(1) runs the dump on a pseudo-terminal and copies what it shows.
            p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True,
                               timeout=60, env=harness.clean_env())
            shown = p.stdout.decode("utf-8", "replace")
            self.assertEqual(p.returncode, 0, shown)
            if quiet:
                self.assertNotIn("rows", shown)
            else:
                self.assertRegex(shown, r"idlink-dump: \d+ of \d+ rows \(100%\), \d+ rows/s")
        # Not a terminal: no progress, whatever the size.
        rc, _, err = run("idlink-dump", "--data", self.srv.data_dir, "-o", out)
        self.assertEqual(rc, 0)
        self.assertNotIn("rows/s", err)

    def test_round_trip_equal_identities(self):
        self.seed(self.srv)
        snap = self.dump(self.srv)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["snap.bin"], "no temporary left")
        restored = self.restored_server(snap)
        self.assertStoreChecks(restored)
        n = self.srv.get("/healthz")[1]["next_id"]
        for cid in range(1, n):
            for path in ("/contacts/%d", "/identities/%d"):
                a = self.srv.request("GET", path % cid)
                b = restored.request("GET", path % cid)
                self.assertEqual((a[0], a[2]), (b[0], b[2]), path % cid)

    def test_ids_and_log_continue_after_restore(self):
        self.seed(self.srv, 12)
        before = self.srv.get("/healthz")[1]
        restored = self.restored_server(self.dump(self.srv))
        st, body = restored.post("/api/create/", {"email": "after@x.io"})
        self.assertEqual((st, body["Contact_id"]), (201, before["next_id"]))
        st, changes = restored.get("/changes?after=%d" % before["last_seq"])
        self.assertEqual([c["seq"] for c in changes["results"]], [before["last_seq"] + 1])

    def test_dump_while_clients_write(self):
        self.seed(self.srv, 6)
        load = harness.WriteLoad(self.srv, 2.0, lambda t, i: {
            "email": "w%d-%d@x.io" % (t, i), "phoneNumber": str(1000 + t * 7 + i % 5)})
        snaps = []
        while load.running():
            snaps.append(self.dump(self.srv, "snap%d.bin" % len(snaps)))
            time.sleep(0.2)
        self.assertEqual(load.join(), [])
        self.assertGreaterEqual(len(snaps), 2)
        # Each snapshot is one consistent state: it checks, restores, and the
        # restored store holds every invariant.
        for snap in snaps[:3]:
            rc, out, err = run("idlink-check", "--snapshot", snap)
            self.assertEqual(rc, 0, out + err.encode())
            restored = self.restored_server(snap)
            self.assertStoreChecks(restored)
            restored.close()

    def test_refuses_non_empty_store_and_force_replaces(self):
        self.seed(self.srv, 6)
        snap = self.dump(self.srv)
        other = self.start_server()
        other.post("/identify", {"email": "other@x.io"})
        other.stop()
        digest = store_digest(other.data_dir)
        rc, _, err = run("idlink-restore", "--data", other.data_dir, "-i", snap)
        self.assertNotEqual(rc, 0)
        self.assertIn("--force", err)
        self.assertEqual(store_digest(other.data_dir), digest)
        rc, _, err = run("idlink-restore", "--data", other.data_dir, "-i", snap, "--force",
                         "--quiet")
        self.assertEqual(rc, 0, err)
        other.start()
        self.assertEqual(other.post("/api/identify/", {"email": "other@x.io"})[0], 404)
        self.assertEqual(other.post("/api/identify/", {"email": "u1@x.io"})[0], 200)

    def test_force_replaces_a_damaged_store(self):
        self.seed(self.srv, 6)
        snap = self.dump(self.srv)
        damaged = tempfile.mkdtemp(prefix="idlink-e2e-damaged-")
        self.addCleanup(shutil.rmtree, damaged, True)
        with open(os.path.join(damaged, "data.mdb"), "wb") as f:
            f.write(b"\xff" * 65536)
        rc, _, err = run("idlink-restore", "--data", damaged, "-i", snap)
        self.assertNotEqual(rc, 0)
        self.assertIn("--force", err)
        rc, _, err = run("idlink-restore", "--data", damaged, "-i", snap, "--force", "--quiet")
        self.assertEqual(rc, 0, err)
        rc, out, err = run("idlink-check", "--data", damaged)
        self.assertEqual(rc, 0, out + err.encode())

    def test_largest_ids_are_served_and_continued(self):
        # A store hands out ids and sequence numbers up to INT64_MAX - 1, so
        # that its next id is an int64 too and a dump of it restores: one
        # below leaves room for exactly one more of each, then 507.
        top = INT64_MAX - 2
        rows = [[top, "top@x.io", "5551", None, 0, 1000, 1000, None]]
        snap = self.path("top.bin")
        with open(snap, "wb") as f:
            f.write(mp.write_snapshot(rows, last_seq=top))
        restored = self.restored_server(snap)
        health = restored.get("/healthz")[1]
        self.assertEqual((health["next_id"], health["last_seq"]), (top + 1, top))
        self.assertEqual(restored.get("/contacts/%d" % top)[1]["id"], top)
        st, body = restored.post("/api/create/", {"email": "next@x.io"})
        self.assertEqual((st, body["Contact_id"]), (201, INT64_MAX - 1))
        st, changes = restored.get("/changes?after=%d" % top)
        self.assertEqual([c["seq"] for c in changes["results"]], [INT64_MAX - 1])
        health = restored.get("/healthz")[1]
        self.assertEqual((health["next_id"], health["last_seq"]), (INT64_MAX, INT64_MAX - 1))
        st, body = restored.post("/api/create/", {"email": "past@x.io"})
        self.assertEqual(st, 507, body)
        self.assertEqual(run("idlink-check", "--data", restored.data_dir)[0], 0)

    def test_dump_to_a_full_device_names_the_output_and_the_cause(self):
        self.seed(self.srv, 3)
        with open("/dev/full", "wb") as full:
            p = subprocess.run([tool("idlink-dump"), "--data", self.srv.data_dir, "--quiet"],
                               stdout=full, stderr=subprocess.PIPE, timeout=60,
                               env=harness.clean_env())
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("idlink-dump: standard output: No space left on device", err)
        self.assertNotIn("store", err, "the output failed, not the store")

    def test_dump_into_a_missing_folder_names_the_file(self):
        self.seed(self.srv, 3)
        out = self.path("no/such/folder/snap.bin")
        rc, _, err = run("idlink-dump", "--data", self.srv.data_dir, "-o", out, "--quiet")
        self.assertEqual(rc, 1)
        self.assertIn(out, err)
        self.assertIn("No such file or directory", err)

    def test_dump_through_a_link_or_into_a_fifo_keeps_them(self):
        self.seed(self.srv, 3)
        target = self.path("target.bin")
        link = self.path("link.bin")
        open(target, "wb").close()
        os.symlink(target, link)
        rc, _, err = run("idlink-dump", "--data", self.srv.data_dir, "-o", link, "--quiet")
        self.assertEqual(rc, 0, err)
        self.assertTrue(os.path.islink(link), "the link was replaced")
        self.assertGreater(os.path.getsize(target), 0)
        self.assertEqual(run("idlink-check", "--snapshot", link)[0], 0)
        fifo = self.path("fifo")
        os.mkfifo(fifo)
        got = []
        reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
        reader.start()
        rc, _, err = run("idlink-dump", "--data", self.srv.data_dir, "-o", fifo, "--quiet")
        reader.join(30)
        self.assertEqual(rc, 0, err)
        self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced")
        copy = self.path("from-fifo.bin")
        with open(copy, "wb") as f:
            f.write(got[0])
        rc, out, err = run("idlink-check", "--snapshot", copy)
        self.assertEqual(rc, 0, err)
        self.assertIn(b"3 contacts", out)

    def test_a_fault_while_reading_the_store_is_reported_not_a_bare_crash(self):
        # LMDB trusts its file's pages: a store damaged on disk can make a read
        # fault. The tools then name the store and exit 2. The fault is sent
        # here while idlink-dump waits to open a FIFO nobody reads.
        libs = subprocess.run(["ldd", tool("idlink-dump")], capture_output=True, text=True).stdout
        if "libasan" in libs:
            self.skipTest("a sanitizer build leaves faults to the sanitizer's report")
        self.seed(self.srv, 1)
        fifo = self.path("stalled")
        os.mkfifo(fifo)
        p = subprocess.Popen([tool("idlink-dump"), "--data", self.srv.data_dir, "-o", fifo,
                              "--quiet"], stderr=subprocess.PIPE, env=harness.clean_env())
        time.sleep(0.5)
        p.send_signal(signal.SIGSEGV)
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 2, err)
        self.assertEqual(err.decode(), "idlink-dump: %s/data.mdb: a read faulted: the store may "
                         "be damaged on disk; idlink-check --data %s tells, and a snapshot "
                         "restores it\n" % (self.srv.data_dir, self.srv.data_dir))

    def test_refuses_while_server_runs(self):
        self.seed(self.srv, 3)
        snap = self.dump(self.srv)
        rc, _, err = run("idlink-restore", "--data", self.srv.data_dir, "-i", snap, "--force")
        self.assertNotEqual(rc, 0)
        self.assertIn("in use", err)
        self.assertTrue(self.srv.healthy())


class BadSnapshotTests(unittest.TestCase):
    """Every bad file is refused, says what and where, and leaves the target alone."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="idlink-e2e-bad-")
        srv = harness.Server()
        try:
            for i in range(10):
                srv.post("/identify", {"email": "b%d@x.io" % i, "phoneNumber": str(i // 2)})
            cls.good = os.path.join(cls.tmp, "good.bin")
            rc, _, err = run("idlink-dump", "--data", srv.data_dir, "-o", cls.good, "--quiet")
            assert rc == 0, err
            srv.stop()
            cls.target = os.path.join(cls.tmp, "target")
            shutil.copytree(srv.data_dir, cls.target)
        finally:
            srv.close()
        with open(cls.good, "rb") as f:
            cls.good_bytes = f.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    def refused(self, data, *words):
        path = os.path.join(self.tmp, "bad.bin")
        with open(path, "wb") as f:
            f.write(data)
        rc, out, err = run("idlink-check", "--snapshot", path)
        self.assertEqual(rc, 1, out)
        for w in words:
            self.assertIn(w, out.decode(), "check output %r lacks %r" % (out, w))
        digest = store_digest(self.target)
        rc, _, refusal = run("idlink-restore", "--data", self.target, "-i", path, "--force")
        self.assertNotEqual(rc, 0)
        for w in words:
            self.assertIn(w, refusal, "restore error %r lacks %r" % (refusal, w))
        self.assertEqual(store_digest(self.target), digest, "the store changed")
        self.assertFalse(os.path.exists(os.path.join(self.target, "restore.tmp")))
        # Into a folder that does not exist yet: nothing of it is left behind.
        new = os.path.join(self.tmp, "new", "a", "b")
        rc, _, err = run("idlink-restore", "--data", new, "-i", path)
        self.assertNotEqual(rc, 0)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "new")),
                         "a failed restore left %s behind" % new)
        return out.decode(), refusal

    def accepted(self, data):
        """data checks and restores into a new folder; returns that folder."""
        path = os.path.join(self.tmp, "ok.bin")
        with open(path, "wb") as f:
            f.write(data)
        rc, out, err = run("idlink-check", "--snapshot", path)
        self.assertEqual(rc, 0, out)
        target = tempfile.mkdtemp(prefix="idlink-e2e-accepted-")
        self.addCleanup(shutil.rmtree, target, True)
        rc, _, err = run("idlink-restore", "--data", target, "-i", path, "--quiet")
        self.assertEqual(rc, 0, err)
        return target

    def rows(self):
        return mp.read_snapshot(self.good_bytes)[1]

    def test_truncated(self):
        self.refused(self.good_bytes[:len(self.good_bytes) // 2], "truncated", "byte")
        self.refused(self.good_bytes[:-3], "truncated")

    def test_flipped_bit(self):
        b = bytearray(self.good_bytes)
        b[len(b) // 2] ^= 0x10
        # A flip inside a row may break its shape or only its value: either way refused.
        self.refused(bytes(b))

    def test_flipped_bit_in_a_string_is_a_checksum_mismatch(self):
        i = self.good_bytes.index(b"b3@x.io")
        b = bytearray(self.good_bytes)
        b[i] ^= 0x01
        self.refused(bytes(b), "checksum")

    def test_empty_and_not_msgpack(self):
        self.refused(b"", "empty")
        self.refused(b"hello, world\n", "not an idlink snapshot")
        self.refused(b"\xc1\xc1\xc1", "not msgpack", "byte 0")

    def test_wrong_version(self):
        self.refused(mp.write_snapshot(self.rows(), version=2), "version 2")

    def test_row_of_the_wrong_shape(self):
        rows = self.rows()
        rows[3] = rows[3][:5]
        self.refused(mp.write_snapshot(rows), "row 4", "byte")
        rows = self.rows()
        rows[2][1] = 12345  # email must be a string or nil
        self.refused(mp.write_snapshot(rows), "row 3")

    def test_values_not_normalized(self):
        rows = self.rows()
        rows[2][1] = "UPPER@X.IO"
        self.refused(mp.write_snapshot(rows), "row 3", "normalized")
        rows = self.rows()
        rows[4][2] = "12-34"
        self.refused(mp.write_snapshot(rows), "row 5", "normalized")

    def test_duplicate_ids(self):
        rows = self.rows()
        rows.insert(5, list(rows[4]))
        self.refused(mp.write_snapshot(rows), "row 6", "id")

    def test_secondary_pointing_at_missing_primary(self):
        rows = self.rows()
        sec = next(i for i, r in enumerate(rows) if r[4] == 1)
        rows[sec][3] = 999
        self.refused(mp.write_snapshot(rows), "contact %d: linkedId 999 names no contact"
                     % rows[sec][0])

    def primaries(self, rows):
        return [i for i, r in enumerate(rows) if r[4] == 0]

    def test_primaries_sharing_a_value_are_refused_by_check_and_restore(self):
        # What restore refuses, idlink-check --snapshot refuses, with the same words.
        for field, what in ((1, "an email"), (2, "a phone")):
            with self.subTest(what=what):
                rows = self.rows()
                a, b = self.primaries(rows)[:2]
                rows[b][field] = rows[a][field]
                line = "contacts %d and %d share %s but belong to primaries %d and %d" % (
                    rows[a][0], rows[b][0], what, rows[a][0], rows[b][0])
                out, err = self.refused(mp.write_snapshot(rows), line)
                self.assertIn("violation: " + line, out)

    def test_active_secondary_of_a_deleted_primary(self):
        rows = self.rows()
        sec = next(i for i, r in enumerate(rows) if r[4] == 1)
        primary = next(i for i, r in enumerate(rows) if r[0] == rows[sec][3])
        rows[primary][7] = rows[primary][6]  # deleted
        self.refused(mp.write_snapshot(rows), "contact %d: linkedId %d names a deleted contact"
                     % (rows[sec][0], rows[primary][0]))

    def test_deleted_contacts_share_nothing(self):
        # A deleted contact's values are not its identity's any more: another
        # identity may hold them.
        rows = self.rows()
        a, b = self.primaries(rows)[:2]
        rows[b][1], rows[b][2] = rows[a][1], rows[a][2]
        rows[a][7] = rows[a][6]
        for r in rows:
            if r[3] == rows[a][0]:
                r[7] = r[6]  # its secondaries go with it
        self.accepted(mp.write_snapshot(rows))

    def big_id_rows(self, row_id, linked=None):
        """The good rows, then a primary (or a secondary of linked) with id row_id."""
        rows = self.rows()
        rows.append([row_id, "big@x.io", None, linked, 1 if linked else 0, 5, 5, None])
        return rows

    def test_ids_beyond_int64_are_refused(self):
        # JSON integers are int64: a store hands out ids up to INT64_MAX - 1.
        n = len(self.rows()) + 1
        for row_id in (2 ** 63, INT64_MAX, 2 ** 64 - 1):
            with self.subTest(id=row_id):
                self.refused(mp.write_snapshot(self.big_id_rows(row_id)),
                             "row %d at byte" % n, "id %d is above %d" % (row_id, INT64_MAX - 1))

    def test_linked_ids_beyond_int64_are_refused(self):
        n = len(self.rows()) + 1
        self.refused(mp.write_snapshot(self.big_id_rows(100, linked=2 ** 63)),
                     "row %d at byte" % n, "linked_id %d is above" % 2 ** 63)

    def test_last_seq_beyond_int64_is_refused(self):
        for seq in (2 ** 64 - 1, 2 ** 63, INT64_MAX):
            with self.subTest(last_seq=seq):
                self.refused(mp.write_snapshot(self.rows(), last_seq=seq),
                             "header: last_seq %d is above %d" % (seq, INT64_MAX - 1))

    def test_counts_that_disagree(self):
        self.refused(mp.write_snapshot(self.rows(), count=3), "count")
        self.refused(mp.write_snapshot(self.rows(), contacts=99), "99")

    def test_bytes_after_the_trailer(self):
        self.refused(self.good_bytes + b"\x00", "after the trailer")




# ------------------------------------------------------------------ version 2

TABLES = ["customers", "orders", "products", "feedback", "tickets", "bridges", "conflicts"]


def read_v2(buf):
    """A version 2 snapshot as (header, contact rows, {table: rows}, trailer)."""
    header, off = mp.unpack_one(buf, 0)
    contacts = []
    for _ in range(header["contacts"]):
        row, off = mp.unpack_one(buf, off)
        contacts.append(row)
    tables = {}
    for name in TABLES:
        tables[name] = []
        for _ in range(header["tables"][name]):
            row, off = mp.unpack_one(buf, off)
            tables[name].append(row)
    trailer, off = mp.unpack_one(buf, off)
    assert off == len(buf)
    return header, contacts, tables, trailer


def write_v2(header, contacts, tables):
    """The snapshot of these parts, counts and checksum made to fit."""
    header = dict(header)
    header["contacts"] = len(contacts)
    header["tables"] = {name: len(tables.get(name, [])) for name in TABLES}
    body = mp.pack(header) + b"".join(mp.pack(r) for r in contacts)
    rows = len(contacts)
    for name in TABLES:
        body += b"".join(mp.pack(r) for r in tables.get(name, []))
        rows += len(tables.get(name, []))
    return body + mp.pack({"count": rows, "crc32": zlib.crc32(body)})


class SnapshotV2Tests(SnapshotBase):
    """A store holding customers and orders: every record is in the dump,
    and the restored store gives back the same answer to every GET."""

    def populate(self, srv):
        for i in range(12):
            st, _, body, raw = srv.request("POST", "/api/v1/customers/", {
                "email": "c%d@x.io" % i, "channel": 1 + i % 2, "channel_code": "k%d" % i,
                "phone_number": str(500 + i // 2), "first_name": "F%d" % i,
                "attributes": {"tier": ["gold", {"n": i}]}, "date_of_birth": "1990-01-%02d" % (i + 1),
                "is_active": i % 3 != 0, "gender": "female" if i % 2 else None})
            self.assertEqual(st, 201, raw)
        for i in range(8):
            st, _, _, raw = srv.request("POST", "/api/v1/orders/", {
                "channel": 1, "number": "N%d" % i, "amount": "%d.%02d" % (i * 10, i),
                "currency": "TRY" if i % 2 else "EUR", "created_date": "2023-01-0%dT10:00:00Z" % (i + 1),
                "customer": {"email": "buyer%d@x.io" % (i % 3), "phone_number": str(500 + i)}})
            self.assertEqual(st, 201, raw)
        st, _, _, raw = srv.request("DELETE", "/api/v1/customers/12/")
        self.assertEqual(st, 204, raw)
        srv.post("/identify", {"email": "loose@x.io", "phoneNumber": "999"})

    def answers(self, srv):
        """Every GET a user could make of this store."""
        out = {}
        for path in ("/api/v1/customers/?limit=1000", "/api/v1/orders/?limit=1000",
                     "/api/v1/customers/?ordering=-email&limit=5&page=2",
                     "/api/v1/orders/?identity=%d" % self.first_identity(srv)):
            out[path] = srv.get(path)
        health = srv.get("/healthz")[1]
        for cid in range(1, health["next_id"]):
            for path in ("/contacts/%d" % cid, "/identities/%d" % cid,
                         "/api/v1/identities/%d/" % cid):
                out[path] = srv.get(path)
        for pk in range(1, 16):
            out["/api/v1/customers/%d/" % pk] = srv.get("/api/v1/customers/%d/" % pk)
        return out

    def first_identity(self, srv):
        return srv.get("/api/v1/customers/1/")[1]["identity"]

    def test_round_trip_gives_back_every_answer_and_every_next_id(self):
        self.populate(self.srv)
        before = self.answers(self.srv)
        snap = self.dump(self.srv)
        with open(snap, "rb") as f:
            header, contacts, tables, trailer = read_v2(f.read())
        self.assertEqual(header["version"], 2)
        self.assertEqual(header["tables"], {"customers": 14, "orders": 8, "products": 0,
                                            "feedback": 0, "tickets": 0, "bridges": 3,
                                            "conflicts": 0})
        self.assertEqual(header["next_ids"]["customers"], 16)
        self.assertEqual(header["next_ids"]["orders"], 9)
        self.assertEqual(trailer["count"], len(contacts) + 25)
        # Rows are the API's fields, computed ones left out.
        first = tables["customers"][0]
        self.assertEqual(first["pk"], 1)
        self.assertNotIn("identity", first)
        self.assertEqual(first["attributes"], {"tier": ["gold", {"n": 0}]})
        self.assertEqual(tables["orders"][0]["amount"], "0.00")
        rc, out, err = run("idlink-check", "--snapshot", snap)
        self.assertEqual(rc, 0, out + err.encode())
        self.assertIn(b"version 2", out)
        self.assertEqual(self.srv.stop(), 0)
        restored = self.restored_server(snap)
        after = self.answers(restored)
        # Paging links name the server's own address, which differs.
        for path in before:
            self.assertEqual(json.loads(json.dumps(after[path]).replace(
                                 ":%d/" % restored.port, ":PORT/")),
                             json.loads(json.dumps(before[path]).replace(
                                 ":%d/" % self.srv.port, ":PORT/")), path)
        # Ids are never reused, also across a restore.
        st, _, body, raw = restored.request("POST", "/api/v1/customers/", {
            "email": "new@x.io", "channel": 1, "channel_code": "new"})
        self.assertEqual((st, body["pk"]), (201, 16), raw)
        self.assertStoreChecks(restored)

    def test_rows_are_refused_as_restore_refuses_them(self):
        self.populate(self.srv)
        with open(self.dump(self.srv), "rb") as f:
            header, contacts, tables, _ = read_v2(f.read())

        def variant(name, change, words):
            t = {k: [dict(r) for r in v] for k, v in tables.items()}
            h = {k: dict(v) if isinstance(v, dict) else v for k, v in header.items()}
            change(h, t)
            path = self.path(name)
            with open(path, "wb") as f:
                f.write(write_v2(h, contacts, t))
            rc, out, err = run("idlink-check", "--snapshot", path)
            self.assertEqual(rc, 1, "%s: %s" % (name, out))
            self.assertIn(words, out.decode(), name)
            target = self.path(name + ".restored")
            rc, _, err = run("idlink-restore", "--data", target, "-i", path, "--quiet")
            self.assertNotEqual(rc, 0, name)
            self.assertIn(words, err, name)
            self.assertFalse(os.path.exists(target), name)

        variant("missing-customer", lambda h, t: t["orders"][0].update(customer=99),
                "customer 99 is not in the snapshot")
        variant("duplicate-code", lambda h, t: t["customers"][1].update(
            channel=t["customers"][0]["channel"], channel_code=t["customers"][0]["channel_code"]),
            "share their channel+channel_code")
        variant("bad-email", lambda h, t: t["customers"][0].update(email="nope"),
                "email: Enter a valid email address.")
        variant("pk-past-next", lambda h, t: h["next_ids"].update(orders=3),
                "is not below its next id 3")
        variant("pks-out-of-order", lambda h, t: t["orders"].reverse(), "does not follow pk")
        variant("no-next-ids", lambda h, t: h.pop("next_ids"), "needs the maps tables and next_ids")

    def test_a_row_beyond_the_counts_is_named_as_one(self):
        self.populate(self.srv)
        with open(self.dump(self.srv), "rb") as f:
            buf = f.read()
        header, contacts, tables, trailer = read_v2(buf)
        at = 0
        for _ in range(1 + trailer["count"]):  # the header and every row
            _, at = mp.unpack_one(buf, at)
        last = [name for name in TABLES if tables[name]][-1]
        body = buf[:at] + mp.pack(tables[last][-1])
        path = self.path("row-too-many.bin")
        with open(path, "wb") as f:
            f.write(body + mp.pack({"count": trailer["count"] + 1, "crc32": zlib.crc32(body)}))
        rc, out, _ = run("idlink-check", "--snapshot", path)
        self.assertEqual(rc, 1, out)
        self.assertIn("a row too many?", out.decode())
        rc, _, err = run("idlink-restore", "--data", self.path("restored"), "-i", path, "--quiet")
        self.assertNotEqual(rc, 0)
        self.assertIn("a map without count and crc32 where the trailer was expected", err)


if __name__ == "__main__":
    unittest.main()
