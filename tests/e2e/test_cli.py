"""SPEC section 1: idlinkd's options, their environment variables and their errors."""

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

OPTIONS = ["--listen", "--data", "--redis", "--sync", "--threads", "--max-body"]


class CliTests(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="idlink-e2e-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def run_idlinkd(self, args, env=None, timeout=10):
        """Run idlinkd expecting it to exit by itself; returns (rc, stdout, stderr)."""
        cmd = [harness.idlinkd_path()] + args
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=self.tmp, env=harness.clean_env(env))
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail("%r still running after %d s (accepted?); stderr %r" % (cmd, timeout, err))
        return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def test_help(self):
        rc, out, err = self.run_idlinkd(["--help"])
        self.assertEqual(rc, 0, err)
        for opt in OPTIONS:
            self.assertIn(opt, out, "--help does not list %s:\n%s" % (opt, out))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "idlink-data")),
                         "--help created a data folder")

    def test_bad_options_exit_2(self):
        data = os.path.join(self.tmp, "d")
        listen = ["--listen", "127.0.0.1:%d" % harness.free_port()]
        cases = [
            (["--bogus-flag"], "--bogus-flag"),
            (["--sync", "bogus"], "--sync"),
            (["--sync"], "--sync"),
            (["--threads", "0"], "--threads"),
            (["--threads", "abc"], "--threads"),
            (["--listen", "nonsense"], "--listen"),
            (["--listen", "127.0.0.1:99999"], "--listen"),
            (["--max-body", "-1"], "--max-body"),
            (["--max-body", "lots"], "--max-body"),
        ]
        for args, name in cases:
            with self.subTest(args=args):
                full = (args + ["--data", data]) if "--listen" in args else \
                    (listen + ["--data", data] + args)
                rc, out, err = self.run_idlinkd(full)
                self.assertEqual(rc, 2, "exit code of %r; stderr %r" % (full, err))
                line = err.strip()
                self.assertTrue(line, "no error on stderr")
                self.assertNotIn("\n", line, "the error should be one line: %r" % err)
                self.assertIn(name, line, "the error should name the option: %r" % err)

    def test_bad_environment_value_exits_2(self):
        data = os.path.join(self.tmp, "d")
        listen = "127.0.0.1:%d" % harness.free_port()
        for var, value in (("IDLINK_SYNC", "sometimes"), ("IDLINK_THREADS", "0"),
                           ("IDLINK_MAX_BODY", "-5")):
            with self.subTest(var=var):
                rc, out, err = self.run_idlinkd(["--listen", listen, "--data", data],
                                                env={var: value})
                self.assertEqual(rc, 2, err)
                line = err.strip()
                self.assertNotIn("\n", line, err)
                opt = "--" + var[len("IDLINK_"):].lower().replace("_", "-")
                self.assertTrue(var in line or opt in line,
                                "error should name %s or %s: %r" % (var, opt, err))


class ToolOptionTests(unittest.TestCase):
    """The tools' own option errors: one line naming what is wrong, exit 2."""

    def run_tool(self, env_name, name, args):
        path = os.environ.get(env_name) or os.path.join(harness.BUILD, name)
        p = subprocess.run([path] + args, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30, env=harness.clean_env())
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_check_needs_exactly_one_of_data_and_snapshot(self):
        tmp = tempfile.mkdtemp(prefix="idlink-e2e-cli-")
        self.addCleanup(shutil.rmtree, tmp, True)
        for args in (["--snapshot", os.path.join(tmp, "s.bin"), "--data", tmp], []):
            with self.subTest(args=args):
                rc, out, err = self.run_tool("IDLINK_CHECK", "idlink-check", args)
                self.assertEqual((rc, out), (2, ""), err)
                self.assertEqual(err, "idlink-check: exactly one of --data DIR and "
                                 "--snapshot FILE is required (see --help)\n")

    def test_stray_arguments_are_named(self):
        for env_name, name in (("IDLINK_CHECK", "idlink-check"), ("IDLINK_DUMP", "idlink-dump"),
                               ("IDLINK_RESTORE", "idlink-restore")):
            with self.subTest(tool=name):
                rc, _, err = self.run_tool(env_name, name, ["--data", "d", "stray"])
                self.assertEqual(rc, 2, err)
                self.assertEqual(err, "%s: stray: unexpected argument (see --help)\n" % name)


class EnvironmentTests(unittest.TestCase):

    def start(self, **kw):
        srv = harness.Server(**kw)
        self.addCleanup(srv.close)
        return srv

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="idlink-e2e-env-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def test_listen_and_data_from_environment(self):
        port = harness.free_port()
        data = os.path.join(self.tmpdir(), "from-env")
        srv = self.start(listen_flag=False, data_flag=False, port=port, data_dir=data,
                         env={"IDLINK_LISTEN": "127.0.0.1:%d" % port, "IDLINK_DATA": data})
        self.assertEqual(srv.post("/identify", {"email": "env@x.io"})[0], 200)
        self.assertTrue(os.path.isdir(data), "IDLINK_DATA folder not created")
        self.assertTrue(os.listdir(data), "nothing written in IDLINK_DATA")
        self.assertFalse(os.path.exists(os.path.join(srv.cwd, "idlink-data")),
                         "the default ./idlink-data was used instead of IDLINK_DATA")
        self.assertEqual(srv.stop(), 0)
        rc, out = srv.check()
        self.assertEqual(rc, 0, out + srv.last_check_stderr)

    def open_files_limit(self, pid):
        with open("/proc/%d/limits" % pid) as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
        self.fail("no open files line in /proc/%d/limits" % pid)

    def test_open_files_limit_is_raised_for_the_pool(self):
        # Started with the usual soft limit of 1024: 1024 threads need more.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.assertGreaterEqual(hard, 4096, "this machine's hard limit is too low to test")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        try:
            srv = self.start(extra_args=["--threads", "1024"])
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        self.assertEqual(self.open_files_limit(srv.proc.pid), 1024 * 2 + 256)
        # Where the hard limit is lower, idlinkd says so and still serves.
        low = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1500))  # noqa: E731
        port = harness.free_port()
        proc = subprocess.Popen([harness.idlinkd_path(), "--listen", "127.0.0.1:%d" % port,
                                 "--data", os.path.join(self.tmpdir(), "d"), "--threads", "1024"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                preexec_fn=low, env=harness.clean_env())
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        line = proc.stderr.readline()
        self.assertIn("open files are limited to 1500 (wanted 2304 for 1024 threads)", line)
        self.assertEqual(self.open_files_limit(proc.pid), 1500)
        self.assertIn("listening on", proc.stderr.readline())
        proc.terminate()
        proc.communicate(timeout=15)
        self.assertEqual(proc.returncode, 0)

    def test_default_data_folder(self):
        cwd = self.tmpdir()
        srv = self.start(data_flag=False, data_dir=os.path.join(cwd, "idlink-data"), cwd=cwd)
        self.assertEqual(srv.post("/identify", {"email": "dflt@x.io"})[0], 200)
        self.assertTrue(os.listdir(os.path.join(cwd, "idlink-data")))

    def test_flags_win_over_environment(self):
        env_port = harness.free_port()
        env_data = os.path.join(self.tmpdir(), "env-data")
        srv = self.start(env={"IDLINK_LISTEN": "127.0.0.1:%d" % env_port,
                              "IDLINK_DATA": env_data, "IDLINK_MAX_BODY": "100"},
                         extra_args=["--max-body", "4096"])
        raw = json.dumps({"email": "flag@x.io", "pad": "x" * 1000}).encode()
        status, _, body, rawr = srv.request("POST", "/identify", raw=raw)
        self.assertEqual(status, 200, "--max-body 4096 should win over IDLINK_MAX_BODY=100: %r"
                         % rawr)
        self.assertFalse(os.path.exists(env_data) and os.listdir(env_data),
                         "IDLINK_DATA used although --data was given")
        self.assertTrue(os.listdir(srv.data_dir))
        with self.assertRaises(OSError, msg="listening on IDLINK_LISTEN despite --listen"):
            harness.http_request(env_port, "GET", "/healthz", timeout=2)

    def test_max_body_from_environment(self):
        srv = self.start(env={"IDLINK_MAX_BODY": "1024"})
        small = json.dumps({"email": "small@x.io", "pad": "x" * 900}).encode()
        big = json.dumps({"email": "big@x.io", "pad": "x" * 2000}).encode()
        self.assertEqual(srv.request("POST", "/identify", raw=small)[0], 200)
        seq = srv.last_seq()
        self.assertEqual(srv.request("POST", "/identify", raw=big)[0], 413)
        self.assertEqual(srv.last_seq(), seq)

    def test_other_options_accepted(self):
        srv = self.start(extra_args=["--sync", "none", "--threads", "3"],
                         env={"IDLINK_SYNC": "full", "IDLINK_THREADS": "2"})
        self.assertEqual(srv.post("/identify", {"email": "opts@x.io"})[0], 200)


if __name__ == "__main__":
    unittest.main()
