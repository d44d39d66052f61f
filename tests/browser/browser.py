"""Headless Chromium for the browser tests: Debian's chromium and
chromedriver through python3-selenium; nothing is downloaded.

Each Browser gets a fresh --user-data-dir (removed at quit) and the
flags that keep Chromium from talking to anything but the site.
"""

import os
import shutil
import sys
import tempfile

# python3-selenium is a Debian package: make it importable from another
# python3 on PATH (pyenv, a venv) too.
try:
    import selenium  # noqa: F401
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    NoAlertPresentException, TimeoutException)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]

__all__ = ["Browser", "By", "Keys", "NoAlertPresentException",
           "TimeoutException", "available"]


def available():
    """None if the browser can run here, else why not."""
    for p in (CHROMIUM, CHROMEDRIVER):
        if not os.access(p, os.X_OK):
            return "%s is not installed (apt-get install chromium " \
                   "chromium-driver)" % p
    return None


class Browser:
    def __init__(self, base, width=1280, height=900, name="browser"):
        self.base = base
        self.name = name
        self.profile = tempfile.mkdtemp(prefix="chatdesk-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for f in FLAGS:
            opts.add_argument(f)
        opts.add_argument("--user-data-dir=" + self.profile)
        opts.add_argument("--window-size=%d,%d" % (width, height))
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        log = os.path.join(self.profile, "chromedriver.log")
        self.driver = webdriver.Chrome(
            service=Service(CHROMEDRIVER, log_path=log), options=opts)
        self.driver.set_page_load_timeout(30)

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    # ---- shorthands ------------------------------------------------------

    def open(self, path="/"):
        self.driver.get(self.base + path)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait(self, pred, timeout=20, what="condition"):
        """Waits until pred(browser) is true-ish; returns its value."""
        try:
            return WebDriverWait(self.driver, timeout, 0.1).until(
                lambda d: pred(self))
        except TimeoutException:
            raise AssertionError("%s: timed out after %ss waiting for %s" % (
                self.name, timeout, what))

    def wait_css(self, css, timeout=20):
        return self.wait(lambda b: (b.finds(css) or [None])[0], timeout, css)

    def wait_text(self, css, text, timeout=20):
        """Waits until an element matching css has text in its text."""
        def pred(b):
            for el in b.finds(css):
                try:
                    if text in el.text:
                        return el
                except Exception:  # noqa: BLE001 - re-rendered meanwhile
                    pass
            return None
        return self.wait(pred, timeout, "%r in %s" % (text, css))

    def type(self, css, text, clear=True):
        el = self.wait_css(css)
        if clear:
            el.clear()
        el.send_keys(text)
        return el

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def alert_open(self):
        try:
            self.driver.switch_to.alert
            return True
        except NoAlertPresentException:
            return False

    def console(self):
        try:
            return self.driver.get_log("browser")
        except Exception:  # noqa: BLE001
            return []

    def screenshot(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.driver.save_screenshot(path)
        return path

    def resize(self, width, height):
        self.driver.set_window_size(width, height)
