#!/usr/bin/env python3
# Copyright (c) 2026 The chatdesk authors
#
# Permission to use, copy, modify, and distribute this software for any
# purpose with or without fee is hereby granted, provided that the above
# copyright notice and this permission notice appear in all copies.
#
# THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
# WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
# MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
# ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
# WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
# ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
# OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.

"""Command lines and configuration errors (API.md section 7): --help,
--version, exit 64 on a usage error, a clear one-line error naming the
key on an unknown key or a bad value, for the three programs. No stack:
the programs are run directly, each with a timeout."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import tap  # noqa: E402

PROGRAMS = ("chatdesk", "chatdeskctl", "chatdesk-worker")
TIMEOUT = 10
TMP = None
VERSION = None


def setUpModule():
    global TMP, VERSION
    for p in PROGRAMS:
        harness.binary(p)  # HarnessError -> Bail out
    with open(os.path.join(harness.srcdir(), "configure.ac")) as f:
        m = re.search(r"AC_INIT\(\[[^]]*\],\s*\[([^]]+)\]", f.read())
    if not m:
        raise harness.HarnessError("no version in configure.ac")
    VERSION = m.group(1)
    TMP = tempfile.mkdtemp(prefix="chatdesk-it-config-")


def tearDownModule():
    if TMP and os.environ.get("CHATDESK_KEEP_TMP") != "1":
        shutil.rmtree(TMP, ignore_errors=True)


def run(prog, *args, env=None):
    """Runs a program from a scratch directory (so that the default
    var/ paths land there) with stdin from /dev/null."""
    base = {
        # nothing listens there: a program that tries Redis fails fast
        "CHATDESK_REDIS_URL": "unix://%s/no-redis.sock?db=0" % TMP,
        "CHATDESK_DB_PATH": os.path.join(TMP, "c.db"),
        "CHATDESK_ARCHIVE_DB_PATH": os.path.join(TMP, "a.db"),
    }
    base.update(env or {})
    try:
        return subprocess.run([harness.binary(prog)] + list(args),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, cwd=TMP, env=harness.clean_env(base),
                              timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s %s did not exit within %ds" % (
            prog, " ".join(args), TIMEOUT))


def write_config(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def _cut(s, n=800):
    return s if len(s) <= n else s[:n // 2] + " ... " + s[-n // 2:]


def describe(r):
    return "exit %d, stdout %r, stderr %r" % (r.returncode, _cut(r.stdout),
                                              _cut(r.stderr))


class ConfigTest(harness.ApiTestCase):

    def assertExit(self, r, code):
        self.assertEqual(r.returncode, code, describe(r))

    def assertFailsNaming(self, r, key):
        """non-zero exit (not a signal), one line on stderr naming key"""
        self.assertGreater(r.returncode, 0, describe(r))
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, "want one line on stderr: " +
                         describe(r))
        self.assertIn(key, lines[0], describe(r))

    def test_help(self):
        """--help: exit 0, usage on stdout"""
        for prog in PROGRAMS:
            with self.subTest(prog=prog):
                r = run(prog, "--help")
                self.assertExit(r, 0)
                self.assertIn("usage", r.stdout.lower(), describe(r))

    def test_version(self):
        """--version: exit 0, the package version on stdout"""
        for prog in PROGRAMS:
            with self.subTest(prog=prog):
                r = run(prog, "--version")
                self.assertExit(r, 0)
                self.assertIn(VERSION, r.stdout, describe(r))

    def test_bad_option(self):
        """an unknown option: exit 64 with a message on stderr"""
        for prog in PROGRAMS:
            for opt in ("--no-such-option", "-Z"):
                with self.subTest(prog=prog, opt=opt):
                    r = run(prog, opt)
                    self.assertExit(r, 64)
                    self.assertTrue(r.stderr.strip(), describe(r))

    def test_ctl_usage_errors(self):
        """chatdeskctl: unknown subcommand, bad role, bad JSON: exit 64"""
        r = run("chatdeskctl", "migrate")
        self.assertExit(r, 0)
        cases = [
            (("frobnicate",), r"frobnicate"),
            (("user", "add", "--name", "N", "--email", "n@example.com",
              "--role", "wizard"), r"(?i)role"),
            (("enqueue", "close_inactive_tickets", "{not json"),
             r"(?i)json|payload"),
        ]
        for args, reason in cases:
            with self.subTest(args=" ".join(args)):
                r = run("chatdeskctl", *args)
                self.assertExit(r, 64)
                # the first line says what is wrong (not just "unknown
                # command" for a command that exists)
                first = (r.stderr.strip().splitlines() or [""])[0]
                self.assertRegex(first, reason, describe(r))
                if args[0] != "frobnicate":
                    self.assertNotIn("unknown command", first, describe(r))

    def test_worker_bad_number(self):
        """chatdesk-worker --max-tasks abc: exit 64"""
        for args in (("--max-tasks", "abc"), ("--max-seconds", "x")):
            with self.subTest(args=" ".join(args)):
                r = run("chatdesk-worker", *args)
                self.assertExit(r, 64)

    def test_worker_without_redis(self):
        """chatdesk-worker with Redis unreachable: exit 1, one line"""
        self.assertExit(run("chatdeskctl", "migrate"), 0)
        r = run("chatdesk-worker", "--max-tasks", "1")
        self.assertExit(r, 1)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        self.assertGreaterEqual(len(lines), 1, describe(r))

    def test_bad_value_from_env(self):
        """CHATDESK_REDIS_COMMAND_TIMEOUT_MS=abc: fails naming the key"""
        env = {"CHATDESK_REDIS_COMMAND_TIMEOUT_MS": "abc"}
        for prog, args in (("chatdesk", ()), ("chatdeskctl", ("migrate",)),
                           ("chatdesk-worker", ())):
            with self.subTest(prog=prog):
                self.assertFailsNaming(run(prog, *args, env=env),
                                       "redis_command_timeout_ms")

    def test_bad_value_from_file(self):
        """a bad value in a --config file: fails naming the key"""
        path = write_config("badvalue.conf",
                            "# comment\nlog_level = loud\n")
        for prog, args in (("chatdesk", ()), ("chatdeskctl", ("migrate",)),
                           ("chatdesk-worker", ())):
            with self.subTest(prog=prog):
                self.assertFailsNaming(run(prog, "--config", path, *args),
                                       "log_level")

    def test_unknown_key_in_file(self):
        """bogus_key = 1 in a --config file: fails naming the key"""
        path = write_config("bogus.conf", "bogus_key = 1\n")
        for prog, args in (("chatdesk", ()), ("chatdeskctl", ("migrate",)),
                           ("chatdesk-worker", ())):
            with self.subTest(prog=prog):
                self.assertFailsNaming(run(prog, "--config", path, *args),
                                       "bogus_key")

    def test_config_from_env_var(self):
        """CHATDESK_CONFIG names the file like --config"""
        path = write_config("bogus2.conf", "another_bogus_key = 1\n")
        r = run("chatdeskctl", "migrate", env={"CHATDESK_CONFIG": path})
        self.assertFailsNaming(r, "another_bogus_key")

    def test_missing_config_file(self):
        """--config with a missing file: fails with one line"""
        path = os.path.join(TMP, "does-not-exist.conf")
        for prog, args in (("chatdesk", ()), ("chatdeskctl", ("migrate",)),
                           ("chatdesk-worker", ())):
            with self.subTest(prog=prog):
                r = run(prog, "--config", path, *args)
                self.assertFailsNaming(r, "does-not-exist.conf")


if __name__ == "__main__":
    tap.main()
