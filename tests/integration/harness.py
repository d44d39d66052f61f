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

"""Integration test harness for chatdesk: the real stack, torn down by PID.

A Stack starts, in a fresh temporary directory:

  * redis-server on a unix socket (no TCP port, no persistence);
  * a migrated SQLite database (`chatdeskctl migrate`);
  * a pool of `chatdesk` processes under spawn-fcgi on a unix socket,
    their stderr (the logfmt log) appended to TMP/app.log;
  * nginx in the foreground on a free loopback port, configured from
    nginx/local.conf.in and the shipped nginx/chatdesk-locations.conf;

and talks HTTP to nginx. Everything it starts it stops by PID (never by
name), with bounded waits, also from atexit and on SIGTERM/SIGHUP.

Standard library only. Environment:

  CHATDESK_BUILDDIR  top build dir holding the binaries (default: repo root)
  CHATDESK_SRCDIR    top source dir holding nginx/ (default: repo root)
  CHATDESK_KEEP_TMP  1: keep the temporary directory after stop()
  CHATDESK_IT_VERBOSE 1: print the app log at stop() even when all passed
"""

import atexit
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

NGINX = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin:/bin:" +
                     os.environ.get("PATH", "")) or "/usr/sbin/nginx"
REDIS_SERVER = shutil.which("redis-server", path="/usr/bin:/usr/sbin:" +
                            os.environ.get("PATH", "")) or "/usr/bin/redis-server"
SPAWN_FCGI = shutil.which("spawn-fcgi", path="/usr/bin:/usr/sbin:" +
                          os.environ.get("PATH", "")) or "/usr/bin/spawn-fcgi"

# Set by tap.py when any test fails, so that stop() prints the logs.
TEST_FAILED = False

# Variables of the harness itself, never passed on to the programs.
_HARNESS_VARS = ("CHATDESK_BUILDDIR", "CHATDESK_SRCDIR", "CHATDESK_KEEP_TMP",
                 "CHATDESK_IT_VERBOSE")


class HarnessError(Exception):
    """The stack could not be started or driven (not a test failure)."""


def builddir():
    return os.path.abspath(os.environ.get("CHATDESK_BUILDDIR") or REPO)


def srcdir():
    return os.path.abspath(os.environ.get("CHATDESK_SRCDIR") or REPO)


def binary(name):
    """Absolute path of one of the three programs; HarnessError if absent."""
    path = os.path.join(builddir(), name)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise HarnessError("%s not found or not executable (build first, or "
                           "set CHATDESK_BUILDDIR)" % path)
    return path


def clean_env(extra=None):
    """os.environ without any CHATDESK_* variable, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CHATDESK_")}
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Calls pred() until it returns a true value (which is returned) or
    timeout seconds pass (HarnessError). pred may raise; the last
    exception is quoted in the error."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - quoted in the error below
            last = e
        if time.monotonic() >= deadline:
            raise HarnessError("timed out after %.1fs waiting for %s%s" % (
                timeout, what, (": last error: %r" % last) if last else ""))
        time.sleep(interval)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        return False
    # state is the field after the parenthesised comm
    state = stat[stat.rfind(")") + 2:].split(" ", 1)[0]
    return state not in ("Z", "X")


def pid_is(pid, exe_path):
    """True if pid runs exe_path (guards against PID reuse)."""
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        exe = ""
    if exe.endswith(" (deleted)"):
        exe = exe[:-len(" (deleted)")]
    if exe and os.path.realpath(exe) == os.path.realpath(exe_path):
        return True
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv0 = f.read().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return False
    return os.path.basename(argv0) == os.path.basename(exe_path)


# --------------------------------------------------------------------------
# HTTP

class Headers:
    """Response headers, looked up case-insensitively."""

    def __init__(self, pairs):
        self._pairs = list(pairs)

    def get(self, name, default=None):
        name = name.lower()
        for k, v in self._pairs:
            if k.lower() == name:
                return v
        return default

    def get_all(self, name):
        name = name.lower()
        return [v for k, v in self._pairs if k.lower() == name]

    def __getitem__(self, name):
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __contains__(self, name):
        return self.get(name) is not None

    def items(self):
        return list(self._pairs)

    def __repr__(self):
        return "Headers(%r)" % (self._pairs,)


class Response:
    def __init__(self, method, path, status, reason, headers, body):
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason
        self.headers = Headers(headers)
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    @property
    def json(self):
        """The body parsed as JSON; ValueError naming the body if it is not."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ValueError("%s %s -> %d: body is not JSON (%s): %r" % (
                self.method, self.path, self.status, e, self.body[:500]))

    def __repr__(self):
        return "<Response %s %s -> %d %r>" % (self.method, self.path,
                                              self.status, self.body[:300])


# --------------------------------------------------------------------------
# Redis (RESP2 over the unix socket, one connection per call)

class RedisReplyError(Exception):
    """An error reply (-ERR ...) from Redis."""


def _resp_encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, bytes):
            b = a
        elif isinstance(a, str):
            b = a.encode("utf-8")
        elif isinstance(a, (int, float)) and not isinstance(a, bool):
            b = str(a).encode()
        else:
            raise TypeError("redis argument of type %s" % type(a).__name__)
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class _RespReader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RedisReplyError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ConnectionError("bad RESP reply %r" % line[:100])


def redis_command(sock_path, *args, timeout=5.0, db=0):
    """Runs one command on the Redis at sock_path. Bulk replies are bytes,
    status replies str, integers int; an error reply raises
    RedisReplyError; a connection problem raises OSError."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        payload = b""
        if db:
            payload += _resp_encode(["SELECT", db])
        payload += _resp_encode(args)
        s.sendall(payload)
        r = _RespReader(s)
        if db:
            sel = r.read()
            if isinstance(sel, RedisReplyError):
                raise sel
        reply = r.read()
    if isinstance(reply, RedisReplyError):
        raise reply
    return reply


# --------------------------------------------------------------------------
# The stack

_live_stacks = []
_signals_installed = False


def _cleanup_all():
    for st in list(_live_stacks):
        try:
            st.stop(check=False)
        except Exception as e:  # noqa: BLE001
            sys.stderr.write("# harness: cleanup failed: %r\n" % (e,))


def _on_signal(signum, frame):
    # SIGTERM/SIGHUP (a make check timeout, a closed terminal): stop every
    # stack now and exit. Raising SystemExit instead would not do: unittest
    # records it as the error of the running test and carries on.
    signal.signal(signum, signal.SIG_IGN)
    try:
        sys.stdout.write("Bail out! terminated by signal %d\n" % signum)
        sys.stdout.flush()
    except Exception:  # noqa: BLE001
        pass
    _cleanup_all()
    os._exit(128 + signum)


def _install_cleanup():
    global _signals_installed
    if _signals_installed:
        return
    _signals_installed = True
    atexit.register(_cleanup_all)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _on_signal)
        except (ValueError, OSError):
            pass  # not the main thread


class Stack:
    """redis + migrated SQLite + spawn-fcgi pool + nginx, in a temp dir.

    Stack(pool_size=2, env={"CHATDESK_X": "..."}, rate="100000r/s").start()
    env is added to the environment of every program (pool, chatdeskctl).
    rate is nginx's limit_req per client address (burst 200, as shipped).
    Every test request comes from 127.0.0.1, and a file that sends a few
    hundred quick requests in a row would otherwise meet nginx's 429 by
    chance (test_accounts did, at 1000r/s, on a quiet machine); no test is
    about that limit, which is nginx's own.
    """

    START_TIMEOUT = 15.0
    STOP_TIMEOUT = 10.0

    def __init__(self, pool_size=2, env=None, rate="100000r/s", name="stack",
                 nchan_redis=None):
        self.pool_size = int(pool_size)
        # nchan_redis: a redis:// URL for Nchan's storage (several nginx
        # hosts sharing events), else Nchan keeps events in memory.
        self.nchan_redis = nchan_redis
        self.extra_env = dict(env or {})
        self.rate = rate
        self.name = name
        self.tmp = None
        self.redis_proc = None
        self.nginx_proc = None
        self.pool = []            # pids of the chatdesk processes
        self.port = None
        self.started = False
        self.failed = False       # set by tests/tap to print logs at stop
        self.warnings = []
        self._stopped = False

    # ---- paths --------------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    @property
    def redis_sock(self):
        return self.path("redis.sock")

    @property
    def fcgi_sock(self):
        return self.path("chatdesk.sock")

    @property
    def db_path(self):
        return self.path("chatdesk.db")

    @property
    def archive_db_path(self):
        return self.path("archive.db")

    @property
    def events_sock(self):
        return self.path("events.sock")

    @property
    def log_path(self):
        return self.path("app.log")

    @property
    def pidfile(self):
        return self.path("pool.pid")

    @property
    def redis_url(self):
        return "unix://%s?db=0" % self.redis_sock

    def env(self, extra=None):
        """The environment the programs get: CHATDESK_* of the outer
        environment dropped, the stack's paths set, then the per-stack and
        the given extra variables (None removes one)."""
        base = {
            "CHATDESK_DB_PATH": self.db_path,
            "CHATDESK_ARCHIVE_DB_PATH": self.archive_db_path,
            "CHATDESK_REDIS_URL": self.redis_url,
            "CHATDESK_QUEUE_REDIS_URL": self.redis_url,
            "CHATDESK_LOG_LEVEL": "info",
            "CHATDESK_REDIS_RETRY_MS": "200",
            "CHATDESK_EVENTS_SOCKET": self.events_sock,
        }
        base.update(self.extra_env)
        base.update(extra or {})
        return clean_env(base)

    # ---- start --------------------------------------------------------

    def start(self):
        """Starts everything; on any failure stops what was started and
        raises HarnessError."""
        _install_cleanup()
        for tool in (NGINX, REDIS_SERVER, SPAWN_FCGI):
            if not os.access(tool, os.X_OK):
                raise HarnessError("%s is not installed" % tool)
        self.chatdesk = binary("chatdesk")
        self.chatdeskctl = binary("chatdeskctl")
        base = os.environ.get("TMPDIR") or "/tmp"
        # unix socket paths are limited to 107 bytes
        if len(base) > 60:
            base = "/tmp"
        self.tmp = tempfile.mkdtemp(prefix="chatdesk-it-", dir=base)
        _live_stacks.append(self)
        try:
            self.start_redis()
            self._migrate()
            self.start_pool()
            self._start_nginx()
            self._wait_ready()
        except BaseException:
            self.failed = True
            self.stop(check=False)
            raise
        self.started = True
        return self

    def _migrate(self):
        r = self.run_ctl("migrate", timeout=30)
        if r.returncode != 0:
            raise HarnessError("chatdeskctl migrate exited %d: %s%s" % (
                r.returncode, r.stderr.strip(), r.stdout.strip()))
        if not os.path.exists(self.db_path):
            raise HarnessError("chatdeskctl migrate did not create %s" %
                               self.db_path)

    # ---- redis --------------------------------------------------------

    def start_redis(self):
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            raise HarnessError("redis is already running")
        try:
            os.unlink(self.redis_sock)  # left by a SIGKILLed redis
        except FileNotFoundError:
            pass
        logf = open(self.path("redis.log"), "ab")
        try:
            self.redis_proc = subprocess.Popen(
                [REDIS_SERVER, "--port", "0",
                 "--unixsocket", self.redis_sock, "--unixsocketperm", "700",
                 "--save", "", "--appendonly", "no", "--daemonize", "no",
                 "--dir", self.tmp],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                cwd=self.tmp, env=clean_env(), start_new_session=True)
        finally:
            logf.close()

        def ready():
            if self.redis_proc.poll() is not None:
                raise HarnessError("redis-server exited %d: %s" % (
                    self.redis_proc.returncode,
                    self._tail(self.path("redis.log"), 20)))
            return (os.path.exists(self.redis_sock) and
                    redis_command(self.redis_sock, "PING", timeout=1) == "PONG")
        try:
            wait_until(ready, self.START_TIMEOUT, what="redis PING")
        except HarnessError:
            if self.redis_proc.poll() is not None:
                raise HarnessError("redis-server exited %d: %s" % (
                    self.redis_proc.returncode,
                    self._tail(self.path("redis.log"), 20)))
            raise

    def stop_redis(self):
        p, self.redis_proc = self.redis_proc, None
        if p is not None:
            self._stop_child(p, "redis-server")

    def redis(self, *args, db=0, timeout=5.0):
        """One command on the stack's Redis: redis("LLEN", "tasks:pending")."""
        return redis_command(self.redis_sock, *args, timeout=timeout, db=db)

    # ---- pool ---------------------------------------------------------

    def start_pool(self, size=None, env=None):
        """Starts the chatdesk pool under spawn-fcgi. The children's stderr
        is appended to app.log by a /bin/sh wrapper that execs chatdesk
        (spawn-fcgi sends a forked child's stderr to /dev/null), so the
        PIDs in the pid file are the chatdesk processes themselves."""
        if self.pool:
            raise HarnessError("the pool is already running")
        size = self.pool_size if size is None else int(size)
        try:
            os.unlink(self.pidfile)
        except FileNotFoundError:
            pass
        script = 'exec "$0" "$@" 2>>%s' % shlex.quote(self.log_path)
        cmd = [SPAWN_FCGI, "-s", self.fcgi_sock, "-M", "0660",
               "-F", str(size), "-P", self.pidfile, "--",
               "/bin/sh", "-c", script, self.chatdesk]
        with open(self.path("spawn-fcgi.log"), "ab") as out:
            start = out.tell()
            try:
                r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, cwd=self.tmp,
                                   env=self.env(env), timeout=30)
            except subprocess.TimeoutExpired:
                raise HarnessError("spawn-fcgi did not return in 30s")
        pids = self._read_pidfile()
        # When one child fails, spawn-fcgi gives up without writing the
        # pid file, yet a slower sibling may have passed its check and
        # go on serving: every child it reported spawned is ours to stop.
        with open(self.path("spawn-fcgi.log"), "rb") as f:
            f.seek(start)
            for m in re.finditer(rb"spawned successfully: PID: (\d+)",
                                 f.read()):
                if int(m.group(1)) not in pids:
                    pids.append(int(m.group(1)))
        self.pool = pids
        try:
            self._check_pool(r, pids, size)
        except HarnessError:
            self.stop_pool()  # the children that did start
            raise

    def _check_pool(self, r, pids, size):
        if r.returncode != 0:
            raise HarnessError("spawn-fcgi exited %d: %s\napp log:\n%s" % (
                r.returncode, self._tail(self.path("spawn-fcgi.log"), 20),
                self._tail(self.log_path, 20)))
        if len(pids) != size:
            raise HarnessError("spawn-fcgi wrote %d pids, expected %d: %s" % (
                len(pids), size, self._tail(self.path("spawn-fcgi.log"), 20)))
        time.sleep(0.1)
        dead = [p for p in pids if not pid_alive(p)]
        if dead:
            raise HarnessError("pool processes %s exited at start; app log:\n%s"
                               % (dead, self._tail(self.log_path, 30)))

    def _read_pidfile(self):
        try:
            with open(self.pidfile) as f:
                return [int(x) for x in f.read().split()]
        except FileNotFoundError:
            return []
        except ValueError as e:
            raise HarnessError("bad pid file %s: %s" % (self.pidfile, e))

    def pool_pids(self):
        """PIDs of the pool processes still alive."""
        return [p for p in self.pool if pid_alive(p)]

    def stop_pool(self):
        pids, self.pool = self.pool, []
        mine = []
        for pid in pids:
            if not pid_alive(pid):
                continue
            if not pid_is(pid, self.chatdesk):
                self.warnings.append("pid %d is no longer chatdesk; not "
                                     "killed" % pid)
                continue
            mine.append(pid)
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.STOP_TIMEOUT
        while time.monotonic() < deadline and any(pid_alive(p) for p in mine):
            time.sleep(0.05)
        for pid in mine:
            if pid_alive(pid):
                self.warnings.append("pool pid %d ignored SIGTERM for %.0fs; "
                                     "SIGKILL" % (pid, self.STOP_TIMEOUT))
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(pid_alive(p) for p in mine):
            time.sleep(0.05)

    # ---- nginx --------------------------------------------------------

    def write_nginx_conf(self, port, name="nginx", events_sock=None,
                         nchan_redis=None):
        """Writes TMP/<name>.conf for nginx on port (another nginx of the
        same stack passes its own name and publisher socket)."""
        self._write_nginx_conf(port, name, events_sock, nchan_redis)
        return self.path(name + ".conf")

    def _write_nginx_conf(self, port, name="nginx", events_sock=None,
                          nchan_redis=None):
        ndir = os.path.join(srcdir(), "nginx")
        try:
            with open(os.path.join(ndir, "local.conf.in")) as f:
                conf = f.read()
        except OSError as e:
            raise HarnessError("nginx template: %s (set CHATDESK_SRCDIR)" % e)
        subst = {
            "@USER_LINE@": "user root root;" if os.geteuid() == 0 else "",
            "@STATE@": self.tmp,
            "@LISTEN@": "127.0.0.1:%d" % port,
            "@SOCKET@": self.fcgi_sock,
            "@RATE@": self.rate,
            "@EVENTS_SOCKET@": events_sock or self.events_sock,
            "@NCHAN_STORAGE@": ("nchan_redis_url %s; nchan_use_redis on;"
                                % (nchan_redis or self.nchan_redis)
                                if (nchan_redis or self.nchan_redis) else ""),
            "@WEBROOT@": os.path.join(srcdir(), "web"),
        }
        if name != "nginx":
            conf = conf.replace(self.tmp + "/nginx.pid",
                                self.path(name + ".pid"))
        for k, v in subst.items():
            conf = conf.replace(k, v)
        left = re.findall(r"@[A-Z_]+@", conf)
        if left:
            raise HarnessError("nginx/local.conf.in: unknown placeholders %s"
                               % sorted(set(left)))
        # The snippets are self-contained: they include nothing themselves.
        for inc in ("chatdesk-locations.conf", "chatdesk-web.conf",
                    "chatdesk-events.conf", "chatdesk-events-publisher.conf"):
            with open(os.path.join(ndir, inc)) as f:
                text = f.read()
            recheck = self.env().get("CHATDESK_EVENTS_RECHECK_S")
            if recheck and inc == "chatdesk-events.conf":
                # The shipped snippet says 60s, events_recheck_s' default.
                text = re.sub(r"nchan_subscriber_timeout \d+s;",
                              "nchan_subscriber_timeout %ss;" % recheck, text)
            with open(self.path(inc), "w") as f:
                f.write(text)
        os.makedirs(self.path("nginx-tmp"), exist_ok=True)
        with open(self.path(name + ".conf"), "w") as f:
            f.write(conf)

    def _nginx_cmd(self, *extra):
        return [NGINX, "-p", self.tmp + "/", "-e",
                self.path("nginx-error.log"), "-c", self.path("nginx.conf"),
                "-g", "daemon off;"] + list(extra)

    def _start_nginx(self):
        last = ""
        for _attempt in range(3):
            port = free_port()
            self._write_nginx_conf(port)
            t = subprocess.run(self._nginx_cmd("-t"), stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=30)
            if t.returncode != 0:
                raise HarnessError("nginx -t failed:\n%s%s" % (t.stdout,
                                                              t.stderr))
            errlog = self.path("nginx-stderr.log")
            with open(errlog, "ab") as out:
                self.nginx_proc = subprocess.Popen(
                    self._nginx_cmd(), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, cwd=self.tmp, env=clean_env(),
                    start_new_session=True)

            def up():
                if self.nginx_proc.poll() is not None:
                    return "exited"
                with socket.create_connection(("127.0.0.1", port), 0.5):
                    return "up"
            state = wait_until(up, self.START_TIMEOUT, what="nginx to listen "
                               "on port %d" % port)
            if state == "up":
                time.sleep(0.05)
                if self.nginx_proc.poll() is None:
                    self.port = port
                    return
                state = "exited"
            last = self._tail(errlog, 10) + self._tail(
                self.path("nginx-error.log"), 10)
            self.nginx_proc = None
            if "in use" not in last:
                break
        raise HarnessError("nginx did not start:\n%s" % last)

    def _wait_ready(self):
        """Waits until a request reaches the pool: any answer but nginx's
        own 502/503/504 (pool not answering)."""
        state = {}

        def ready():
            r = self.http("GET", "/api/v1/health", timeout=5)
            state["last"] = r
            if r.status in (502, 504):
                return False
            if r.status == 503:
                try:
                    return "status" in r.json
                except ValueError:
                    return False
            return True
        try:
            wait_until(ready, self.START_TIMEOUT, interval=0.1,
                       what="the pool to answer GET /api/v1/health")
        except HarnessError as e:
            raise HarnessError("%s; last response %r; pool alive %s; app "
                               "log:\n%s\nnginx error log:\n%s" % (
                                   e, state.get("last"), self.pool_pids(),
                                   self._tail(self.log_path, 30),
                                   self._tail(self.path("nginx-error.log"), 20)))

    def wait_ready(self):
        """Waits until the pool answers through nginx (after start_pool)."""
        self._wait_ready()

    def reset_database(self):
        """Stops the pool, removes the SQLite files, migrates afresh and
        starts the pool again (same size and environment)."""
        self.stop_pool()
        for p in (self.db_path, self.archive_db_path):
            for suffix in ("", "-wal", "-shm", "-journal"):
                try:
                    os.unlink(p + suffix)
                except FileNotFoundError:
                    pass
        self._migrate()
        self.start_pool()
        if self.port is not None:
            self._wait_ready()

    # ---- requests -----------------------------------------------------

    def http(self, method, path, headers=None, body=None, timeout=10.0):
        """One HTTP/1.1 request to nginx on a fresh connection. body may be
        None, bytes, str (sent as UTF-8) or a dict/list (sent as JSON with
        Content-Type application/json unless headers say otherwise)."""
        if self.port is None:
            raise HarnessError("nginx is not running")
        hdrs = dict(headers or {})
        lower = {k.lower() for k in hdrs}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            if "content-type" not in lower:
                hdrs["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode("utf-8")
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)
        try:
            try:
                conn.request(method, path, body=body, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                # nginx may answer (413) and stop reading a big body; its
                # answer is usually still there to read.
                pass
            resp = conn.getresponse()
            data = resp.read()
            return Response(method, path, resp.status, resp.reason,
                            resp.getheaders(), data)
        finally:
            conn.close()

    def http_raw(self, data, timeout=10.0):
        """Sends raw bytes to nginx and returns everything it answers
        until it closes (for malformed requests)."""
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout) as s:
            s.sendall(data)
            chunks = []
            while True:
                try:
                    c = s.recv(65536)
                except socket.timeout:
                    break
                if not c:
                    break
                chunks.append(c)
        return b"".join(chunks)

    # ---- chatdeskctl --------------------------------------------------

    def run_ctl(self, *args, env=None, timeout=30, input=None):
        """Runs chatdeskctl with the stack's environment (plus env) and
        returns the CompletedProcess (text mode)."""
        try:
            return subprocess.run([binary("chatdeskctl")] + [str(a) for a in args],
                                  input=input, capture_output=True, text=True,
                                  cwd=self.tmp, env=self.env(env),
                                  timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise HarnessError("chatdeskctl %s did not exit in %ss" % (
                " ".join(map(str, args)), timeout)) from e

    def run_worker(self, *args, env=None, timeout=60):
        try:
            return subprocess.run([binary("chatdesk-worker")] +
                                  [str(a) for a in args],
                                  capture_output=True, text=True, cwd=self.tmp,
                                  env=self.env(env), timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise HarnessError("chatdesk-worker %s did not exit in %ss" % (
                " ".join(map(str, args)), timeout)) from e

    def add_user(self, name, email, role):
        """chatdeskctl user add; returns the token (last stdout line)."""
        r = self.run_ctl("user", "add", "--name", name, "--email", email,
                         "--role", role)
        if r.returncode != 0:
            raise HarnessError("chatdeskctl user add exited %d: %s" % (
                r.returncode, r.stderr.strip()))
        lines = [ln.strip() for ln in r.stdout.splitlines() if ln.strip()]
        if not lines:
            raise HarnessError("chatdeskctl user add printed no token")
        return lines[-1]

    # ---- logs ---------------------------------------------------------

    def app_log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=5.0):
        """Waits until a line of the app log matches the regex; returns
        the first such line, or None after timeout."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.app_log().splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    @staticmethod
    def _tail(path, n):
        try:
            with open(path, "r", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return "(no %s)\n" % os.path.basename(path)
        return "".join(ln + "\n" for ln in lines[-n:])

    def dump_logs(self, out=None):
        out = out or sys.stderr
        for name, n in (("app.log", 80), ("nginx-error.log", 30),
                        ("nginx-stderr.log", 10), ("spawn-fcgi.log", 10),
                        ("redis.log", 10)):
            p = self.path(name)
            if not os.path.exists(p):
                continue
            out.write("# ---- %s: %s (last %d lines)\n" % (self.name, name, n))
            for ln in self._tail(p, n).splitlines():
                out.write("#   %s\n" % ln)
        for w in self.warnings:
            out.write("# harness warning: %s\n" % w)
        out.flush()

    # ---- stop ---------------------------------------------------------

    def _stop_child(self, p, what):
        if p.poll() is not None:
            return
        try:
            p.terminate()
            p.wait(self.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.warnings.append("%s pid %d ignored SIGTERM; SIGKILL" %
                                 (what, p.pid))
            # The child leads its own process group (start_new_session):
            # kill the group, so that nginx workers do not outlive a
            # killed master.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                self.warnings.append("%s pid %d survived SIGKILL" % (what,
                                                                     p.pid))

    SANITIZER = re.compile(r"(ERROR: \w+Sanitizer|SUMMARY: \w+Sanitizer|"
                           r"runtime error: )")

    def sanitizer_reports(self):
        """Lines of the app log that are sanitizer reports (ASan, LSan,
        UBSan): a pool process that crashed or leaked at exit."""
        return [ln for ln in self.app_log().splitlines()
                if self.SANITIZER.search(ln)]

    def stop(self, failed=None, check=True):
        """Stops nginx, the pool and redis (by PID), prints the logs if a
        test failed, removes the temp dir unless CHATDESK_KEEP_TMP=1.
        With check, raises HarnessError afterwards if the app log holds
        sanitizer reports. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if failed:
            self.failed = True
        errors = []
        reports = []
        try:
            for step in (self._stop_nginx, self.stop_pool, self.stop_redis):
                try:
                    step()
                except Exception as e:  # noqa: BLE001 - keep stopping
                    errors.append("%s: %r" % (step.__name__, e))
            if self.tmp is None:
                return
            reports = self.sanitizer_reports()
            if (self.failed or TEST_FAILED or errors or reports or
                    os.environ.get("CHATDESK_IT_VERBOSE") == "1"):
                self.dump_logs()
            for e in errors:
                sys.stderr.write("# harness: stop: %s\n" % e)
            if os.environ.get("CHATDESK_KEEP_TMP") == "1":
                sys.stderr.write("# harness: kept %s\n" % self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            if self in _live_stacks:
                _live_stacks.remove(self)
        if check and reports:
            raise HarnessError("sanitizer reports in the app log (%s): %s" % (
                self.name, "; ".join(reports[:5])))

    def _stop_nginx(self):
        p, self.nginx_proc = self.nginx_proc, None
        self.port = None
        if p is not None:
            # SIGQUIT would wait for keep-alive clients; SIGTERM is fast.
            self._stop_child(p, "nginx")


# --------------------------------------------------------------------------
# Assertions shared by the tests

import unittest  # noqa: E402

ERROR_CODES = {
    "invalid_json", "invalid_field", "unauthorized", "forbidden", "not_found",
    "method_not_allowed", "conflict", "payload_too_large",
    "unsupported_media_type", "rate_limited", "internal", "unavailable",
}

# nginx's $request_id: 16 random bytes in hex
NGINX_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


class ApiTestCase(unittest.TestCase):
    maxDiff = None

    def assertJsonType(self, r):
        ct = (r.headers.get("Content-Type") or "").replace(" ", "").lower()
        self.assertEqual(ct, "application/json;charset=utf-8",
                         "Content-Type of %r" % (r,))

    def assertRequestId(self, r):
        rid = r.headers.get("X-Request-Id")
        self.assertTrue(rid, "no X-Request-Id on %r (headers %r)" % (
            r, r.headers))
        self.assertEqual(len(r.headers.get_all("X-Request-Id")), 1,
                         "several X-Request-Id on %r" % (r,))
        return rid

    def assertError(self, r, status, code):
        """status, the JSON content type, X-Request-Id and the one error
        shape of API.md section 1; returns the error object."""
        self.assertEqual(r.status, status, r)
        self.assertJsonType(r)
        self.assertRequestId(r)
        body = r.json
        self.assertIsInstance(body, dict, r)
        self.assertEqual(set(body), {"error"}, "top-level keys of %r" % (r,))
        err = body["error"]
        self.assertIsInstance(err, dict, r)
        self.assertLessEqual(set(err), {"code", "message", "field"},
                             "keys of the error object of %r" % (r,))
        self.assertIn(err.get("code"), ERROR_CODES, r)
        self.assertEqual(err.get("code"), code, r)
        self.assertIsInstance(err.get("message"), str, r)
        self.assertTrue(err["message"].strip(), "empty message in %r" % (r,))
        if "field" in err:
            self.assertIsInstance(err["field"], str, r)
        return err
