#!/usr/bin/env python3
"""The file system turned read-only under load (issue 12's gap): the
SQLite files on a loop-mounted ext4 with errors=remount-ro, which the
kernel makes read-only at an error (triggered through ext4's
trigger_fs_error) while a mixed load runs.

  * reads keep answering 200, every one;
  * writes answer 201 or 503 unavailable, never 500;
  * /health says 200 degraded, "database":"read_only", in every process
    (here the error surfaces first as an EIO from the WAL's fdatasync, so
    the pool stays read-only until it restarts, as after any failed
    sync: docs/DESIGN.md, "Durable posts");
  * after the pool is stopped, e2fsck and a remount: every 201 the load
    got is its row, as sent (the syncs behind them reached the disk
    before the error), integrity_check is ok, and a pool started again
    takes writes.

Root and a loop device only (mount -o loop); otherwise it skips."""

import os
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultlib  # noqa: E402
import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
WORLD = None
POLL_S = 30.0


def setUpModule():
    global STACK, WORLD
    if not os.path.exists("/sys/fs/ext4") or not os.path.exists(
            "/dev/loop-control"):
        raise unittest.SkipTest("no ext4 or no loop devices here")
    STACK, WORLD = faultlib.start_mounted(faultlib.Ext4Stack,
                                          "test_read_only_fs", size_mb=64)


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def tags_in_files(recs):
    """Which 201s' texts the files' bytes no longer hold at all: a text
    in no file was lost below SQLite; one that is there, SQLite did not
    find."""
    blobs = []
    for p in (STACK.db_path, STACK.archive_db_path):
        for suffix in ("", "-wal"):
            try:
                with open(p + suffix, "rb") as f:
                    blobs.append(f.read())
            except OSError:
                pass
    tags = [r.tag for r in recs if r.status == 201]
    gone = [t for t in tags if not any(t.encode() in b for b in blobs)]
    return "%d of %d 201 texts in no file: %r" % (len(gone), len(tags),
                                                  gone[:10])


def health():
    return STACK.http("GET", "/api/v1/health")


class ReadOnlyFsTest(harness.ApiTestCase):

    def test_read_only_under_load(self):
        pids = sorted(STACK.pool_pids())
        with faultlib.Load(STACK, WORLD, threads=4) as load:
            load.wait_count(60)
            load.phase = "ro"
            STACK.error()
            self.assertTrue(STACK.read_only(), "the kernel did not make "
                            "the file system read-only")
            harness.wait_until(
                lambda: any(r.phase == "ro" and r.status == 503
                            for r in list(load.records)), POLL_S,
                what="a write answered 503 on the read-only file system")
            n = STACK.pool_size * 3
            run, last = helpers.poll_in_a_row(
                health, lambda r: r.json.get("database") == "read_only", n,
                POLL_S)
            self.assertGreaterEqual(len(run), n, "health never said "
                                    "read_only %d times in a row; last %r"
                                    % (n, last))
            self.assertEqual(last.status, 200, last)
            self.assertEqual(last.json["status"], "degraded", last)
            load.wait_count(100)       # more of the load, read-only
        recs = load.records
        faultlib.check_writes_refused(self, recs, "ro")
        self.assertEqual(sorted(STACK.pool_pids()), pids,
                         "a pool process exited")
        # The operator's repair: stop, fsck, mount, start.
        STACK.stop_pool()
        STACK.repair()
        self.assertFalse(STACK.read_only())
        try:
            n = faultlib.check_writes(self, STACK, recs)
        except AssertionError as e:
            # What the repair did, the kernel's words on the error, and
            # whether the 201s' texts are still in the files' bytes
            # (SQLite not finding them) or gone (lost below SQLite).
            dmesg = subprocess.run(["dmesg"], capture_output=True, text=True,
                                   timeout=10).stdout.splitlines()
            raise AssertionError("%s\n%s\nkernel:\n%s\nin the files: %s" % (
                e, STACK.fsck_output,
                "\n".join(ln for ln in dmesg[-40:] if "loop" in ln or
                           "EXT4" in ln), tags_in_files(recs))) from e
        self.assertGreater(n, 0)
        faultlib.integrity_ok(self, STACK.db_path)
        faultlib.integrity_ok(self, STACK.archive_db_path)
        STACK.start_pool()
        harness.wait_until(lambda: health().json.get("database") == "ok",
                           POLL_S, what="health ok after the repair")
        cust = WORLD.customers[0]
        for i in range(10):
            r = helpers.request(STACK, "POST", "/api/v1/rooms/%d/messages"
                                % WORLD.room, cust[1], {"body": "after %d" % i})
            self.assertEqual(r.status, 201, r)


if __name__ == "__main__":
    tap.main()
