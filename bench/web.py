#!/usr/bin/env python3
"""bench/web.py: the web client's two performance figures (issue 15),
measured in Debian's headless Chromium with the browser's own
`performance` timings, against the real stack (the integration harness).

  * first load: the bytes transferred (compressed, headers included) for
    `/` on a fresh profile, every resource of the page up to the signed-in
    inbox; and whether any request left the site;
  * room view: from the moment the view has its data (the room and its 50
    latest messages) to the DOM built ("room-dom") and to the next frame
    ("room-frame"), and from the view's start including the two API reads
    ("room-render").

    CHATDESK_BUILDDIR=build python3 bench/web.py [--rounds N]

Prints one line per figure with the median, the 90th percentile and the
worst of N rounds (the worst is the shared machine's noise as much as
the page's).
Not a test: nothing here asserts a time.
"""

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.join(REPO, "tests", "browser"))
os.environ.setdefault("CHATDESK_SRCDIR", REPO)

import harness  # noqa: E402
import helpers  # noqa: E402
import browser as br  # noqa: E402

PW = "bench-password-1"


def add(stack, role, name):
    email = name + "@example.com"
    r = stack.run_ctl("user", "add", "--name", name, "--email", email,
                      "--role", role, "--password-stdin", input=PW)
    assert r.returncode == 0, r
    return email, r.stdout.strip().splitlines()[-1]


def sign_in(b, email):
    b.open("/")
    b.type("form.signin input[name=email]", email)
    b.type("form.signin input[name=password]", PW)
    b.find("form.signin button[type=submit]").click()
    b.wait_css("#me-name")
    b.wait(lambda x: x.find("#me-name").text, what="signed in")


def first_load(stack, email):
    """Bytes of a cold first load of the app, through the signed-in inbox."""
    b = br.Browser("http://127.0.0.1:%d" % stack.port, name="first-load")
    try:
        sign_in(b, email)
        b.wait_css("table.inbox")
        entries = b.js("""
          const nav = performance.getEntriesByType('navigation')[0];
          return [nav].concat(performance.getEntriesByType('resource'))
            .map(e => ({name: e.name, type: e.initiatorType,
                        transfer: e.transferSize, body: e.encodedBodySize,
                        decoded: e.decodedBodySize}));""")
    finally:
        b.quit()
    base = "http://127.0.0.1:%d/" % stack.port
    static = [e for e in entries if "/api/" not in e["name"]]
    outside = [e["name"] for e in entries if not e["name"].startswith(base)]
    return {
        "transfer": sum(e["transfer"] for e in static),
        "body": sum(e["body"] for e in static),
        "decoded": sum(e["decoded"] for e in static),
        "files": len(static),
        "api_transfer": sum(e["transfer"] for e in entries
                            if "/api/" in e["name"]),
        "outside": outside,
    }


def room_times(stack, email, token, rounds):
    room = helpers.request(stack, "POST", "/api/v1/rooms", token,
                           {"name": "bench", "member_ids": []}).json
    for i in range(50):
        r = helpers.request(stack, "POST", "/api/v1/rooms/%d/messages" %
                            room["id"], token,
                            {"body": "message %d: " % i + "lorem ipsum " * 8})
        assert r.status == 201, r
    b = br.Browser("http://127.0.0.1:%d" % stack.port, name="room")
    out = {"room-dom": [], "room-frame": [], "room-render": []}
    try:
        sign_in(b, email)
        for _ in range(rounds):
            b.open("/#/inbox")
            b.wait_css("table.inbox")
            b.js("performance.clearMarks(); performance.clearMeasures();")
            b.open("/#/rooms/%d" % room["id"])
            b.wait(lambda x: x.js(
                "return performance.getEntriesByName('room-frame').length"),
                what="room-frame")
            n = len(b.finds(".messages li"))
            assert n == 50, n
            for k in out:
                out[k].append(b.js(
                    "return performance.getEntriesByName(arguments[0])[0]"
                    ".duration", k))
    finally:
        b.quit()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    why = br.available()
    if why:
        sys.exit("bench/web.py: " + why)
    stack = harness.Stack(name="bench-web", env={
        "CHATDESK_RATE_LIMIT_COUNT": "1000",
        "CHATDESK_SIGNIN_RATE_LIMIT_ADDR": "1000",
        "CHATDESK_SIGNIN_RATE_LIMIT_EMAIL": "1000"}).start()
    try:
        email, token = add(stack, "agent", "bench")
        loads = [first_load(stack, email) for _ in range(3)]
        fl = loads[-1]
        print("first_load transfer_bytes=%d encoded_body_bytes=%d "
              "decoded_bytes=%d files=%d api_transfer_bytes=%d "
              "outside_requests=%d" % (
                  fl["transfer"], fl["body"], fl["decoded"], fl["files"],
                  fl["api_transfer"], len(fl["outside"])))
        for u in fl["outside"]:
            print("  outside: " + u)
        times = room_times(stack, email, token, args.rounds)
        for k, v in times.items():
            v = sorted(v)
            p90 = v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]
            print("%s messages=50 rounds=%d median_ms=%.1f p90_ms=%.1f "
                  "max_ms=%.1f" % (k, len(v), statistics.median(v), p90,
                                   v[-1]))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
