"""What the browser tests share about the stack: users with passwords
(chatdeskctl user add --password-stdin), where screenshots go, and the
end of a module: browsers quit, then the stack stopped."""

import os

import harness
import helpers


def out_dir():
    """CHATDESK_BROWSER_OUT, default BUILDDIR/tests/browser-out."""
    d = os.environ.get("CHATDESK_BROWSER_OUT") or os.path.join(
        harness.builddir(), "tests", "browser-out")
    os.makedirs(d, exist_ok=True)
    return d


def add(stack, role, name):
    """A user NAME of ROLE with the password "name-password-1": a dict of
    id, email, password, token (the one chatdeskctl printed) and name."""
    email = "%s@example.com" % name.lower()
    pw = "%s-password-1" % name.lower()
    r = stack.run_ctl("user", "add", "--name", name, "--email", email,
                      "--role", role, "--password-stdin", input=pw + "\n")
    if r.returncode != 0:
        raise harness.HarnessError("user add %s: %r" % (name, r))
    tok = r.stdout.strip().splitlines()[-1]
    me = helpers.request(stack, "GET", "/api/v1/users/me", tok).json
    return {"id": me["id"], "email": email, "password": pw, "token": tok,
            "name": name}


def tear_down(stack, browsers):
    """Quits every browser, then stops the stack (None: not started)."""
    for b in browsers.values():
        try:
            b.quit()
        except Exception:  # noqa: BLE001 - a browser that died already
            pass
    if stack is not None:
        stack.stop()
