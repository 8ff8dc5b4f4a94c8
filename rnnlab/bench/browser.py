"""A headless Chromium for the explorer page: its tests, its load-time benchmark and its screenshots.

Debian's ``chromium`` and ``chromium-driver`` packages, driven by Selenium with the driver's path
given, so that nothing is downloaded (Selenium Manager is never asked for a driver).  The flags keep
Chromium off the network: no background requests, no component updates, no sync.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rnnlab.errors import ConfigError

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")
INSTALL = "install Debian's browser and its driver: apt-get install -y chromium chromium-driver"


class BrowserMissingError(ConfigError):
    """No headless browser to run: Chromium, its driver or Selenium is not installed."""


def browser_paths() -> tuple[str, str]:
    """``(chromium, chromedriver)``, or :class:`BrowserMissingError` saying what is missing and how to install it."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise BrowserMissingError("selenium is not installed: pip install selenium (in the dev extra)") from None
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists()
                                               else None)
    if chromium is None or driver is None:
        missing = " and ".join(name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path)
        raise BrowserMissingError(f"{missing} not found; {INSTALL}")
    return chromium, driver


@contextmanager
def headless_chromium(width: int = 1280, height: int = 1400) -> Iterator:
    """A Selenium WebDriver on a headless Chromium with a fresh, empty profile, quit on leaving the block;
    the page's console messages are kept (:func:`console_errors`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = browser_paths()
    profile = tempfile.mkdtemp(prefix="rnnlab-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[str]:
    """The page's console errors (and uncaught exceptions) since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def open_page(driver, path: Path, timeout: float = 30.0) -> float:
    """Load the explorer page at ``path`` and wait until it is drawn; returns the seconds from the start of
    navigation to the first frame painted after its script built the page, as the page measured them."""
    driver.get(Path(path).absolute().as_uri())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        drawn = driver.execute_script("return window.rnnlabExplorer ? window.rnnlabExplorer.drawnAt : null")
        if drawn is not None:
            return float(drawn) / 1000
        time.sleep(0.02)
    errors = "; ".join(console_errors(driver)) or "no console error"
    raise TimeoutError(f"{path}: the explorer page was not drawn within {timeout} s ({errors})")


def screenshot(driver, page: Path, png: Path, width: int = 1200, height: int = 1300) -> Path:
    """A screenshot of the top ``width x height`` pixels of the explorer page at ``page``, written to ``png``."""
    driver.set_window_size(width, height)
    open_page(driver, page)
    driver.save_screenshot(str(png))
    return png
