#!/usr/bin/env python3
"""The web client in a real browser (issue 15): headless Chromium from
Debian against the real stack (harness.Stack: redis, the pool under
spawn-fcgi, nginx serving web/ and the API).

A customer and an agent sign in in two browser sessions; the customer
opens a ticket and the agent's inbox shows it without a reload; the
agent replies and the customer sees it; a message body that is HTML
shows as text and runs nothing; the admin creates a user who can then
sign in; signing out revokes the token. Screenshots of the main views go
to the output directory (CHATDESK_BROWSER_OUT, default
BUILDDIR/tests/browser-out)."""

import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402
import browser as br  # noqa: E402
import stack_users  # noqa: E402
from stack_users import out_dir  # noqa: E402

STACK = None
USERS = {}              # role -> dict(id, email, password, token)
BROWSERS = {}           # name -> Browser
SHOTS = None
NORA = {"email": "nora@example.com", "name": "Nora New"}   # + "password"
XSS = '<img src=x onerror=alert(1)>'
XSS_FLAG = '<img src=x onerror="window.__xss=1">'


def add(role, name):
    return stack_users.add(STACK, role, name)


def setUpModule():
    global STACK, SHOTS
    why = br.available()
    if why:
        raise harness.HarnessError(why)
    STACK = harness.Stack(name="test_web", env={
        "CHATDESK_SIGNIN_RATE_LIMIT_ADDR": "1000"}).start()
    USERS["admin"] = add("admin", "Ada")
    USERS["agent"] = add("agent", "Alex")
    USERS["customer"] = add("customer", "Casey")
    SHOTS = out_dir()
    # A few tickets already there, so that the inbox looks like one.
    for subj, prio in (("Invoice 2291 is charged twice", "high"),
                       ("How do I export my contacts?", "low"),
                       ("Login link expired", "normal")):
        r = helpers.request(STACK, "POST", "/api/v1/tickets",
                            USERS["customer"]["token"],
                            {"subject": subj, "body": subj, "priority": prio})
        if r.status != 201:
            raise harness.HarnessError("seed ticket: %r" % r)
    helpers.request(STACK, "PATCH", "/api/v1/tickets/1",
                    USERS["agent"]["token"],
                    {"assignee_id": USERS["agent"]["id"]})
    STACK.run_worker("--max-seconds", "5")    # their notifications


def tearDownModule():
    stack_users.tear_down(STACK, BROWSERS)


def base():
    return "http://127.0.0.1:%d" % STACK.port


def browser(name, **kw):
    if name not in BROWSERS:
        BROWSERS[name] = br.Browser(base(), name=name, **kw)
    return BROWSERS[name]


def sign_in(b, user):
    b.open("/")
    b.type("form.signin input[name=email]", user["email"])
    b.type("form.signin input[name=password]", user["password"])
    b.find("form.signin button[type=submit]").click()
    b.wait_text("#me-name", user["name"])


def shot(b, name):
    b.js("window.scrollTo(0, 0)")
    return b.screenshot(os.path.join(SHOTS, name + ".png"))


class StaticTest(harness.ApiTestCase):
    """What nginx serves at /: the policy, types, no inline script."""

    def test_index_headers(self):
        r = STACK.http("GET", "/")
        self.assertEqual(r.status, 200, r)
        csp = r.headers.get("Content-Security-Policy") or ""
        self.assertIn("default-src 'self'", csp)
        self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff")
        self.assertIn("text/html", r.headers.get("Content-Type"))
        html = r.text
        self.assertNotIn("<script>", html)
        self.assertNotIn("style=", html)
        self.assertNotIn(" on", html.split("<body>")[1].split("</body>")[0]
                         .replace(" one", "").replace(" only", ""))

    def test_module_types(self):
        for path, ctype in (("/js/app.js", "text/javascript"),
                            ("/css/app.css", "text/css")):
            r = STACK.http("GET", path, headers={"Accept-Encoding": "gzip"})
            self.assertEqual(r.status, 200, r)
            self.assertIn(ctype, r.headers.get("Content-Type"))
            self.assertEqual(r.headers.get("Content-Encoding"), "gzip", r)

    def test_no_inline_code_anywhere(self):
        web = os.path.join(harness.srcdir(), "web")
        for root, _, files in os.walk(web):
            for f in files:
                if f.endswith((".js", ".html")):
                    text = open(os.path.join(root, f)).read()
                    self.assertNotIn("innerHTML", text, f)
                    self.assertNotIn("insertAdjacentHTML", text, f)
                    self.assertNotIn("document.write", text, f)
                    self.assertNotIn("eval(", text, f)


class FlowTest(harness.ApiTestCase):
    """One story, in order (unittest runs the methods by name)."""

    subject = "The printer on floor 2 is on fire"

    def test_01_sign_in_as_customer_and_agent(self):
        c = browser("customer")
        c.open("/")
        c.type("form.signin input[name=email]", USERS["customer"]["email"])
        c.type("form.signin input[name=password]", "not the password")
        c.find("form.signin button[type=submit]").click()
        c.wait_text("form.signin .form-status", "Wrong email or password")
        sign_in(c, USERS["customer"])
        c.wait_text("main h1", "My tickets")
        tok = c.js("return JSON.parse(sessionStorage.getItem('chatdesk.session')).token")
        self.assertEqual(len(tok), 43)
        self.assertNotIn(tok, c.driver.current_url)
        # The agent signs in by keyboard only: the email field has the
        # focus, Tab moves on, Enter submits.
        a = browser("agent")
        a.open("/")
        a.wait_css("form.signin")
        a.wait(lambda b: b.js("return document.activeElement.name") ==
               "email", what="focus on email")
        a.driver.switch_to.active_element.send_keys(USERS["agent"]["email"])
        a.driver.switch_to.active_element.send_keys(br.Keys.TAB)
        a.driver.switch_to.active_element.send_keys(USERS["agent"]["password"])
        a.driver.switch_to.active_element.send_keys(br.Keys.ENTER)
        a.wait_text("#me-name", USERS["agent"]["name"])
        a.wait_text("main h1", "Inbox")
        self.assertTrue(a.driver.title.endswith("Inbox · chatdesk"),
                        a.driver.title)
        # Both sessions are real tokens of their own users.
        self.assertEqual(helpers.request(STACK, "GET", "/api/v1/users/me", tok)
                         .json["id"], USERS["customer"]["id"])

    def test_02_customer_opens_a_ticket_the_agent_sees_it(self):
        c, a = browser("customer"), browser("agent")
        a.open("/#/inbox")
        a.wait_text("main h1", "Inbox")
        # Through the real events server (Nchan), not polling: the inbox
        # learns of the ticket from the staff channel.
        a.wait(lambda b: b.find("#live-state").get_attribute("data-state")
               == "live", what="the agent's events live")
        before = len(a.finds("table.inbox tbody tr"))
        unread = int(a.wait_css(".bell-button").get_attribute("data-unread"))
        c.open("/#/tickets")
        c.type("form.card input[name=subject]", self.subject)
        c.type("form.card textarea[name=body]", "It smells of toner.\nHelp!")
        c.find("form.card button[type=submit]").click()
        c.wait_text(".ticket-head h1", self.subject)
        c.wait_text(".conversation .comment .body", "It smells of toner.")
        # The agent's inbox shows it without a reload.
        a.wait_text("table.inbox tbody", self.subject, timeout=20)
        self.assertGreater(len(a.finds("table.inbox tbody tr")), before)
        self.assertIn("#/inbox", a.driver.current_url)
        # The worker writes the ticket_created notification: the bell
        # counts it, without a reload.
        w = STACK.run_worker("--max-seconds", "5")
        self.assertEqual(w.returncode, 0, w)
        a.wait(lambda b: b.find(".bell-button").get_attribute(
            "data-unread") == str(unread + 1), what="bell count + 1")
        self.assertIn("%d unread" % (unread + 1), a.find(".bell-button")
                      .get_attribute("aria-label"))
        a.wait(lambda b: b.driver.title.startswith("(%d) " % (unread + 1)),
               what="the unread count in the title")
        shot(a, "inbox")

    def test_03_agent_replies_the_customer_sees_it(self):
        c, a = browser("customer"), browser("agent")
        link = a.wait(lambda b: [x for x in b.finds("table.inbox a")
                                 if x.text == self.subject][0], what="link")
        unread = int(a.find(".bell-button").get_attribute("data-unread"))
        link.click()
        a.wait_text(".ticket-head h1", self.subject)
        # Opening the ticket reads its notification.
        a.wait(lambda b: b.find(".bell-button").get_attribute(
            "data-unread") == str(unread - 1), what="bell count - 1")
        a.type(".reply textarea[name=body]", "On my way with an extinguisher.")
        a.find(".reply button[type=submit]").click()
        a.wait_text(".conversation .comment.mine .body", "extinguisher")
        # Assign it to me and mark it pending.
        a.wait_css("form.changes select[name=status]")
        a.js("const f = document.querySelector('form.changes');"
             "f.querySelector('[name=status]').value = 'pending';"
             "f.querySelector('[name=assignee]').value = arguments[0];",
             str(USERS["agent"]["id"]))
        a.find("form.changes button[type=submit]").click()
        a.wait_text("form.changes .form-status", "Saved")
        a.wait_text(".ticket-head .meta", "pending")
        # The customer's open ticket view shows the reply, no reload.
        c.wait_text(".conversation .comment .body", "extinguisher", timeout=20)
        c.wait_text(".ticket-head .meta", "pending", timeout=20)
        shot(a, "ticket")
        c.open("/#/tickets")
        c.wait_text("ul.tickets", self.subject)
        shot(c, "customer-tickets")

    def test_04_html_in_a_message_is_text(self):
        c, a = browser("customer"), browser("agent")
        room = helpers.request(STACK, "POST", "/api/v1/rooms",
                               USERS["agent"]["token"],
                               {"name": "Casey <b>support</b>",
                                "member_ids": [USERS["customer"]["id"]]}).json
        helpers.request(STACK, "POST", "/api/v1/rooms/%d/messages" % room["id"],
                        USERS["agent"]["token"], {"body": "Hello Casey, how can we help?"})
        c.open("/#/rooms/%d" % room["id"])
        a.open("/#/rooms/%d" % room["id"])
        c.wait_text(".messages .body", "how can we help")
        c.type(".composer textarea", XSS)
        c.find(".composer button[type=submit]").click()
        c.wait_text(".messages .body", XSS)
        c.type(".composer textarea", XSS_FLAG)
        c.find(".composer button[type=submit]").click()
        c.wait_text(".messages .body", XSS_FLAG)
        # The agent gets both, live, as text too.
        a.wait_text(".messages .body", XSS_FLAG, timeout=20)
        a.type(".composer textarea", "Thanks, that is just text here.")
        a.find(".composer button[type=submit]").click()
        c.wait_text(".messages .body", "just text here", timeout=20)
        for b in (c, a):
            self.assertEqual(b.finds(".messages img"), [], b.name)
            self.assertEqual(b.finds("h1 b"), [], b.name)
            self.assertEqual(b.find("main h1").text, "Casey <b>support</b>")
            self.assertFalse(b.alert_open(), b.name)
            self.assertIsNone(b.js("return window.__xss"), b.name)
            bodies = [x.text for x in b.finds(".messages .body")]
            self.assertEqual(bodies.count(XSS), 1, bodies)
            self.assertEqual(bodies.count(XSS_FLAG), 1, bodies)
        # The subject of a ticket is text too.
        helpers.request(STACK, "POST", "/api/v1/tickets",
                        USERS["customer"]["token"],
                        {"subject": XSS_FLAG, "body": XSS_FLAG})
        a.open("/#/inbox")
        a.wait_text("table.inbox tbody", XSS_FLAG, timeout=20)
        self.assertEqual(a.finds("table.inbox img"), [])
        self.assertIsNone(a.js("return window.__xss"))
        a.open("/#/rooms/%d" % room["id"])
        a.wait_text(".messages .body", "just text here")
        shot(a, "room")

    def test_05_phone_width(self):
        c = browser("customer")
        c.resize(390, 844)
        try:
            c.open("/#/tickets")
            c.wait_text("ul.tickets", self.subject)
            # Nothing wider than the screen: no sideways scrolling.
            w = c.js("return document.documentElement.scrollWidth")
            self.assertLessEqual(w, c.js("return window.innerWidth"))
            shot(c, "phone-tickets")
            link = c.wait(lambda b: [x for x in b.finds("ul.tickets a")
                                     if x.text == self.subject][0])
            link.click()
            c.wait_text(".conversation .comment .body", "extinguisher")
            self.assertLessEqual(c.js("return document.documentElement.scrollWidth"),
                                 c.js("return window.innerWidth"))
            shot(c, "phone-ticket")
        finally:
            c.resize(1280, 900)

    def test_06_admin_creates_a_user_who_signs_in(self):
        d = browser("admin")
        sign_in(d, USERS["admin"])
        d.open("/#/users")
        d.wait_text("main h1", "Users")
        d.type("form.card input[name=name]", "Nora New")
        d.type("form.card input[name=email]", "nora@example.com")
        d.find("form.card input[name=password]").clear()  # generated
        d.find("form.card button[type=submit]").click()
        secret = d.wait_css(".once .secret").text
        self.assertGreaterEqual(len(secret), 10)
        NORA["password"] = secret
        shot(d, "users")
        n = browser("new")
        sign_in(n, NORA)
        n.wait_text("main h1", "My tickets")
        # Shown once: gone when the admin comes back.
        d.open("/#/inbox")
        d.open("/#/users")
        d.wait_text("main h1", "Users")
        self.assertEqual(d.finds(".once .secret"), [])

    def test_06b_a_token_revoked_elsewhere_ends_the_session(self):
        n = browser("new")
        n.open("/#/tickets")
        n.wait_text("#me-name", "Nora")
        tok = n.js("return JSON.parse(sessionStorage.getItem('chatdesk.session')).token")
        # Revoked through the API, not by this tab: the next poll's 401
        # sends the tab to the sign-in form and forgets the token.
        r = helpers.request(STACK, "DELETE", "/api/v1/tokens/current", tok)
        self.assertEqual(r.status, 204, r)
        n.wait_css("form.signin", timeout=20)
        n.wait_text("#toast", "session ended")
        self.assertIsNone(n.js("return sessionStorage.getItem('chatdesk.session')"))

    def test_06c_admin_disables_a_user_who_is_signed_out(self):
        n = browser("new")
        sign_in(n, NORA)
        n.wait_text("main h1", "My tickets")
        tok = n.js("return JSON.parse(sessionStorage.getItem('chatdesk.session')).token")
        me = helpers.request(STACK, "GET", "/api/v1/users/me", tok).json
        d = browser("admin")
        d.open("/#/inbox")
        d.open("/#/users")
        row = 'tr[data-id="%d"]' % me["id"]
        d.wait_text(row, "Nora New")
        button = [b for b in d.finds(row + " td.actions button")
                  if b.text == "Disable"]
        self.assertEqual(len(button), 1, "a Disable button in Nora's row")
        button[0].click()
        d.wait_text("#toast", "is disabled and signed out")
        d.wait_css(row + ".disabled")
        self.assertIn("Enable", [b.text for b in d.finds(row + " td.actions button")])
        shot(d, "users-disabled")
        # Her tab: the next poll's 401 ends the session; she cannot sign
        # in again, with the answer of a wrong password.
        n.wait_css("form.signin", timeout=20)
        self.assertError(helpers.request(STACK, "GET", "/api/v1/users/me",
                                         tok), 401, "unauthorized")
        n.type("form.signin input[name=email]", NORA["email"])
        n.type("form.signin input[name=password]", NORA["password"])
        n.find("form.signin button[type=submit]").click()
        n.wait_text("form.signin", "Wrong email or password.")
        # Enabled again: she signs in (her old token stays revoked).
        [b for b in d.finds(row + " td.actions button")
         if b.text == "Enable"][0].click()
        d.wait_text("#toast", "is enabled")
        sign_in(n, NORA)
        self.assertError(helpers.request(STACK, "GET", "/api/v1/users/me",
                                         tok), 401, "unauthorized")

    def test_07_sign_out_revokes_the_token(self):
        c = browser("customer")
        c.open("/#/tickets")
        c.wait_text("#me-name", "Casey")
        tok = c.js("return JSON.parse(sessionStorage.getItem('chatdesk.session')).token")
        self.assertEqual(helpers.request(STACK, "GET", "/api/v1/users/me",
                                         tok).status, 200)
        c.find("#sign-out").click()
        c.wait_css("form.signin")
        self.assertIsNone(c.js("return sessionStorage.getItem('chatdesk.session')"))
        for _ in range(4):   # every process of the pool
            r = helpers.request(STACK, "GET", "/api/v1/users/me", tok)
            self.assertError(r, 401, "unauthorized")

    def test_08_no_errors_in_the_consoles(self):
        for name, b in BROWSERS.items():
            bad = [e for e in b.console() if e.get("level") == "SEVERE" and
                   "favicon" not in e.get("message", "") and
                   # expected: the deliberately wrong password of test_01,
                   # the 404s of features this server lacks, and the
                   # broken image URL that is never loaded (x)
                   " 401 " not in e.get("message", "") and
                   " 404 " not in e.get("message", "") and
                   " 405 " not in e.get("message", "")]
            self.assertEqual(bad, [], name)


if __name__ == "__main__":
    tap.main()
