"""What `cmake --install` ships (SPEC section 11): the four programs, a man
page for each that names every option its --help prints (idlinkd's with the
environment variable of each), and idlinkd's hardened systemd unit, its
ExecStart pointed at the installed idlinkd.

Installs the build folder that holds the idlinkd under test (the parent of
harness.idlinkd_path()) into a temporary prefix. Checks the man pages with
groff and the unit with systemd-analyze where those are installed."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness

# ctest reports this exit status as "Skipped" (SKIP_RETURN_CODE), never as passed.
SKIPPED = 77

PROGRAMS = ["idlinkd", "idlink-check", "idlink-dump", "idlink-restore"]
MAN_PAGES = {"idlinkd": "man8/idlinkd.8", "idlink-check": "man1/idlink-check.1",
             "idlink-dump": "man1/idlink-dump.1", "idlink-restore": "man1/idlink-restore.1"}
SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "FILES", "EXIT STATUS",
            "EXAMPLES", "SEE ALSO"]
UNIT = "lib/systemd/system/idlinkd.service"
SYSUSERS = "lib/sysusers.d/idlink.conf"
ENV_EXAMPLE = "share/doc/idlink/idlinkd.env.example"

# Hardening the unit must keep: key -> the value, or a check of the values.
YES = ("yes", "true", "on", "1")
HARDENING = {
    "NoNewPrivileges": YES,
    "ProtectSystem": ("strict",),
    "ProtectHome": YES,
    "PrivateTmp": YES,
    "PrivateDevices": YES,
    "ProtectKernelTunables": YES,
    "ProtectKernelModules": YES,
    "ProtectKernelLogs": YES,
    "ProtectControlGroups": YES,
    "RestrictNamespaces": YES,
    "LockPersonality": YES,
    "MemoryDenyWriteExecute": YES,
    "SystemCallArchitectures": ("native",),
    "UMask": ("0077",),
    "Restart": ("on-failure",),
}

OPTION_RE = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def build_dir():
    return os.path.dirname(os.path.abspath(harness.idlinkd_path()))


def option_re(option):
    """A regex matching the option as a whole word (--redis, not --redis-prefix)."""
    return re.compile(r"(?<![\w-])" + re.escape(option) + r"(?![\w-])")


def troff_text(source):
    """The man page source with the escapes that hide words undone: \\- is a
    hyphen, font changes (\\fB, \\fR, \\f(CW, \\f[B]) and \\& vanish."""
    text = source.replace("\\-", "-").replace("\\&", "")
    text = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", text)
    return text


def tp_items(text):
    """The .TP items of a man page: [(tag line, body lines as one string)]."""
    items = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".TP") and i + 1 < len(lines):
            body = []
            for nxt in lines[i + 2:]:
                if re.match(r"^\.(TP|SH|SS|PP|P|LP|IP)\b", nxt):
                    break
                body.append(nxt)
            items.append((lines[i + 1], "\n".join(body)))
    return items


def parse_unit(path):
    """{section: {key: [values in order]}}; systemd allows a key more than once."""
    unit, section = {}, None
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            m = re.match(r"^\[(.+)\]$", line)
            if m:
                section = unit.setdefault(m.group(1), {})
                continue
            key, sep, value = line.partition("=")
            assert sep and section is not None, "not a unit line: %r" % raw
            section.setdefault(key.strip(), []).append(value.strip())
    return unit


def seconds(value):
    """A systemd time span such as 90, 90s, 1min 30s, 2min, in seconds."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    total = 0
    for number, unit in re.findall(r"(\d+)\s*([a-z]*)", value):
        total += int(number) * units[unit]
    return total


class InstallTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.prefix = tempfile.mkdtemp(prefix="idlink-e2e-install-")
        p = subprocess.run(["cmake", "--install", build_dir(), "--prefix", cls.prefix],
                           capture_output=True, timeout=120)
        cls.install_output = (p.stdout + p.stderr).decode("utf-8", "replace")
        cls.install_rc = p.returncode

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.prefix, True)

    def setUp(self):
        self.assertEqual(self.install_rc, 0, self.install_output)

    def path(self, relative):
        return os.path.join(self.prefix, relative)

    def help_text(self, program):
        p = subprocess.run([self.path("bin/" + program), "--help"], capture_output=True,
                           timeout=30, env=harness.clean_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.decode()

    def man_source(self, program):
        with open(self.path("share/man/" + MAN_PAGES[program]), encoding="utf-8") as f:
            return f.read()

    def unit(self):
        return parse_unit(self.path(UNIT))

    # ------------------------------------------------------------ programs

    def test_programs_installed(self):
        for program in PROGRAMS:
            path = self.path("bin/" + program)
            self.assertTrue(os.path.isfile(path) and os.access(path, os.X_OK),
                            "%s not installed:\n%s" % (path, self.install_output))
        p = subprocess.run([self.path("bin/idlinkd"), "--version"], capture_output=True,
                           timeout=30, env=harness.clean_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.decode(), r"^idlinkd \d+\.\d+\.\d+\n$")

    # ----------------------------------------------------------- man pages

    def test_man_pages_installed(self):
        for program, page in MAN_PAGES.items():
            source = self.man_source(program)
            section = page[-1]
            self.assertTrue(re.search(r"(?m)^\.TH %s %s " % (
                re.escape(program.upper().replace("-", "\\-")), section), source),
                "%s: no .TH %s %s line" % (page, program.upper(), section))
            text = troff_text(source)
            for name in SECTIONS:
                self.assertTrue(re.search(r'(?m)^\.SH "?%s"?$' % name, text),
                                "%s has no %s section" % (page, name))
            self.assertTrue(re.search(r"(?m)^%s - \S" % re.escape(program), text),
                            "%s: NAME is not 'program - description'" % page)

    def test_man_pages_name_every_option(self):
        for program in PROGRAMS:
            help_text = self.help_text(program)
            text = troff_text(self.man_source(program))
            # Every --option word --help prints is named in the page...
            for option in sorted(set(OPTION_RE.findall(help_text))):
                self.assertTrue(option_re(option).search(text),
                                "%s: the man page does not name %s, which --help prints"
                                % (program, option))
            # ...and each option --help describes (a line of its own that starts
            # with it, or with its short form) has an item under OPTIONS.
            described = re.findall(r"(?m)^ {1,4}(?:-[a-z], )?(--[a-z][a-z0-9-]*)", help_text)
            self.assertIn("--help", described, program)
            options = re.search(r"(?ms)^\.SH OPTIONS$(.*?)^\.SH ", text)
            self.assertTrue(options, "%s has no OPTIONS section" % program)
            tags = "\n".join(tag for tag, _ in tp_items(options.group(1)))
            for option in described:
                self.assertTrue(option_re(option).search(tags),
                                "%s: the man page has no OPTIONS item for %s" % (program, option))

    def test_idlinkd_man_page_gives_each_variable(self):
        pairs = re.findall(r"(?m)^  (--[a-z][a-z0-9-]*)\b.*\s(IDLINK_[A-Z0-9_]+)\s*$",
                           self.help_text("idlinkd"))
        self.assertGreaterEqual(len(pairs), 20, "cannot parse idlinkd --help")
        items = tp_items(troff_text(self.man_source("idlinkd")))
        for option, variable in pairs:
            found = [body for tag, body in items if option_re(option).search(tag)]
            self.assertTrue(found, "idlinkd.8: no item for %s" % option)
            named = re.compile(r"(?<![A-Z0-9_])%s(?![A-Z0-9_])" % variable)
            self.assertTrue(any(named.search(body) for body in found),
                            "idlinkd.8: the item of %s does not name %s" % (option, variable))

    def test_idlinkd_man_page_signals(self):
        text = troff_text(self.man_source("idlinkd"))
        m = re.search(r"(?ms)^\.SH SIGNALS$(.*?)^\.SH ", text)
        self.assertTrue(m, "idlinkd.8 has no SIGNALS section")
        for word in ("SIGINT", "SIGTERM", "SIGHUP", "--token-file"):
            self.assertIn(word, m.group(1))

    def test_man_pages_format_without_warnings(self):
        groff = shutil.which("groff")
        if not groff:
            self.fail("groff is not installed (make test installs groff-base)")
        for page in MAN_PAGES.values():
            p = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", self.path("share/man/" + page)],
                               capture_output=True, timeout=60)
            self.assertEqual((p.returncode, p.stderr.decode()), (0, ""), page)

    # ---------------------------------------------------------------- unit

    def test_unit_hardening(self):
        service = self.unit().get("Service", {})
        for key, allowed in HARDENING.items():
            self.assertIn(key, service, "idlinkd.service lacks %s=" % key)
            self.assertIn(service[key][-1].lower(), allowed, "%s=%s" % (key, service[key][-1]))
        self.assertEqual(service.get("CapabilityBoundingSet"), [""],
                         "CapabilityBoundingSet= must be empty (no capabilities)")
        families = " ".join(service.get("RestrictAddressFamilies", [])).split()
        self.assertEqual(sorted(families), ["AF_INET", "AF_INET6", "AF_UNIX"])
        self.assertIn("@system-service", " ".join(service.get("SystemCallFilter", [])).split())
        nofile = service.get("LimitNOFILE", ["0"])[-1].split(":")[-1]
        self.assertGreaterEqual(int(nofile), 8192,
                                "LimitNOFILE too low for a socket per thread (--threads up to 4096)")
        self.assertGreaterEqual(seconds(service.get("TimeoutStopSec", ["0"])[-1]), 60,
                                "TimeoutStopSec shorter than a shutdown may take (45 s bodies)")

    def test_unit_state_user_environment(self):
        service = self.unit().get("Service", {})
        self.assertEqual(service.get("StateDirectory"), ["idlink"])
        self.assertIn("-/etc/idlink/idlinkd.env", service.get("EnvironmentFile", []))
        self.assertRegex(service.get("ExecReload", [""])[-1], r"kill -HUP \$MAINPID$")
        dynamic = service.get("DynamicUser", ["no"])[-1].lower() in YES
        user = service.get("User", [None])[-1]
        self.assertTrue(dynamic or user, "idlinkd.service names no user")
        if user and not dynamic:
            with open(self.path(SYSUSERS), encoding="utf-8") as f:
                self.assertTrue(re.search(r"(?m)^u\s+%s\s" % re.escape(user), f.read()),
                                "%s does not declare the user %s" % (SYSUSERS, user))
        self.assertIn(self.unit().get("Install", {}).get("WantedBy", [""])[-1],
                      ("multi-user.target",))

    def test_unit_execstart_is_installed_idlinkd(self):
        execstart = self.unit()["Service"]["ExecStart"][-1].split()
        self.assertEqual(execstart[0], self.path("bin/idlinkd"))
        # Options come from the environment file: a flag here would win over it.
        self.assertFalse([w for w in execstart[1:] if w.startswith("--")], execstart)

    def test_env_example_names_every_variable(self):
        with open(self.path(ENV_EXAMPLE), encoding="utf-8") as f:
            example = f.read()
        for variable in re.findall(r"\s(IDLINK_[A-Z0-9_]+)\s*$", self.help_text("idlinkd"),
                                   re.M):
            self.assertTrue(re.search(r"(?m)^#?%s=" % variable, example),
                            "%s does not document %s" % (ENV_EXAMPLE, variable))

    def test_unit_verifies(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.fail("systemd-analyze is not installed (make test installs systemd)")
        env = harness.clean_env({"MANPATH": self.path("share/man") + ":"})
        p = subprocess.run([analyze, "verify", self.path(UNIT)], capture_output=True,
                           timeout=60, env=env)
        self.assertEqual((p.returncode, p.stderr.decode()), (0, ""), p.stdout)


if __name__ == "__main__":
    if not shutil.which("cmake"):
        print("SKIPPED: cmake is not on PATH; the install tests did not run")
        raise SystemExit(SKIPPED)
    if not os.path.isfile(os.path.join(build_dir(), "cmake_install.cmake")):
        print("SKIPPED: %s is not a CMake build folder; the install tests did not run"
              % build_dir())
        raise SystemExit(SKIPPED)
    unittest.main()
