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

"""Runs the unittest cases of a module and prints TAP for automake's
tap-driver.sh.

    if __name__ == "__main__":
        tap.main()

prints `1..N`, then `ok N - name` or `not ok N - name` per test, with the
traceback as `# ` lines. Skips are `ok N - name # SKIP reason`, expected
failures `not ok N - name # TODO ...`. Sub-test failures fail their test.

Exit status: 0 when every test ran (failures are in the TAP); 1 after
`Bail out! reason` when a setUpModule/setUpClass fixture (the harness)
failed, or when a tearDown fixture failed after the tests.
"""

import os
import sys
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import harness  # noqa: E402


class BailOut(BaseException):
    """Raised out of the suite when a set-up fixture failed."""


def _comment(text):
    return "".join("# %s\n" % ln if ln else "#\n"
                   for ln in text.rstrip("\n").splitlines())


def _name(test):
    cls = type(test).__name__
    method = getattr(test, "_testMethodName", str(test))
    doc = test.shortDescription() if hasattr(test, "shortDescription") else None
    name = "%s.%s" % (cls, method)
    if doc:
        name += ": " + doc
    # '#' would start a TAP directive
    return name.replace("#", "\\#").replace("\n", " ")


class TapResult(unittest.TestResult):
    def __init__(self, out):
        super().__init__()
        self.out = out
        self.n = 0
        self.not_ok = 0
        self.fixture_errors = []
        self._cur = None

    def _emit(self, text):
        self.out.write(text)
        self.out.flush()

    def startTest(self, test):
        super().startTest(test)
        self._cur = {"ok": True, "directive": "", "diag": []}

    def _fail(self, test, err, label):
        harness.TEST_FAILED = True
        self._cur["ok"] = False
        self._cur["diag"].append("%s:\n%s" % (label,
                                              self._exc_info_to_string(err, test)))

    def addError(self, test, err):
        if isinstance(test, unittest.suite._ErrorHolder):
            # setUpModule/setUpClass/tearDown*: not a test of its own
            super().addError(test, err)
            harness.TEST_FAILED = True
            desc = test.description
            text = "".join(traceback.format_exception(*err))
            if "setUp" in desc:
                exc = err[1]
                reason = "%s: %s" % (desc, str(exc).splitlines()[0]
                                     if str(exc) else type(exc).__name__)
                self._emit(_comment(text))
                self._emit("Bail out! %s\n" % reason[:500].replace("\n", " "))
                raise BailOut(reason)
            self.fixture_errors.append((desc, text))
            self._emit("# fixture error in %s:\n%s" % (desc, _comment(text)))
            return
        super().addError(test, err)
        self._fail(test, err, "ERROR")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, err, "FAIL")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            label = "FAIL" if issubclass(err[0], test.failureException) \
                else "ERROR"
            self._fail(test, err, "%s in %s" % (label, subtest))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if self._cur is None:  # a skipped class: no startTest
            self.startTest(test)
        self._cur["directive"] = " # SKIP %s" % reason.replace("\n", " ")

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._cur["ok"] = False
        self._cur["directive"] = " # TODO expected failure"
        self._cur["diag"].append(self._exc_info_to_string(err, test))

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._cur["directive"] = " # TODO unexpected success"

    def stopTest(self, test):
        super().stopTest(test)
        cur, self._cur = self._cur, None
        if cur is None:
            return
        self.n += 1
        if not cur["ok"] and not cur["directive"]:
            self.not_ok += 1
        self._emit("%s %d - %s%s\n" % ("ok" if cur["ok"] else "not ok", self.n,
                                       _name(test), cur["directive"]))
        for d in cur["diag"]:
            self._emit(_comment(d))


def main(module=None):
    """Runs the tests of module (default __main__) as TAP and exits."""
    if module is None:
        module = sys.modules["__main__"]
    elif isinstance(module, str):
        module = sys.modules[module]
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    argv_filter = sys.argv[1:]
    if argv_filter:
        # python3 test_x.py NAME...: only tests whose id contains a NAME
        def keep(s):
            out = unittest.TestSuite()
            for t in s:
                if isinstance(t, unittest.TestSuite):
                    out.addTest(keep(t))
                elif any(a in t.id() for a in argv_filter):
                    out.addTest(t)
            return out
        suite = keep(suite)
    out = sys.stdout
    total = suite.countTestCases()
    out.write("1..%d\n" % total)
    out.flush()
    result = TapResult(out)
    status = 0
    try:
        suite.run(result)
    except BailOut:
        status = 1
    except KeyboardInterrupt:
        out.write("Bail out! interrupted\n")
        status = 1
    except Exception:  # noqa: BLE001 - the runner itself broke
        text = traceback.format_exc()
        out.write(_comment(text))
        out.write("Bail out! %s\n" % text.strip().splitlines()[-1])
        status = 1
    if status == 0:
        if result.fixture_errors:
            status = 1
        if result.n != total:
            out.write("# ran %d of %d planned tests\n" % (result.n, total))
            status = 1
        out.write("# %d tests, %d failed, %d skipped\n" % (
            result.n, result.not_ok, len(result.skipped)))
    out.flush()
    # atexit (harness cleanup) still runs
    sys.exit(status)
