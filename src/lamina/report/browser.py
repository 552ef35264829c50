"""Open a report in a real headless Chromium: check that it rendered, take a screenshot.

Used by the test suite (and by ``lamina report --screenshot``) to prove that a page works
from ``file://`` in a browser, not only that its HTML was written. Needs Chromium and
ChromeDriver (Debian: ``apt-get install chromium chromium-driver``) and ``selenium``
(``pip install lamina[dev]``). No network is touched: the page is self-contained and the
browser runs with background networking off.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_CANDIDATES = ("chromedriver",)

# What the page looks like to a reader: every figure decoded with a size, every table with rows.
_RENDER_PROBE = """
const imgs = Array.from(document.images);
const tables = Array.from(document.querySelectorAll('table'));
return {
  title: document.title,
  images: imgs.length,
  broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0))
                     .map(i => i.alt || i.src.slice(0, 40)),
  tables: tables.length,
  empty_tables: tables.filter(t => t.querySelectorAll('tbody tr').length === 0 || t.getBoundingClientRect().height === 0)
                      .map(t => (t.caption && t.caption.textContent) || '(table)'),
  sections: document.querySelectorAll('section').length,
  height: document.body.scrollHeight,
};
"""


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when either is missing."""
    browser = next((shutil.which(name) for name in CHROMIUM_CANDIDATES if shutil.which(name)), None)
    driver = next((shutil.which(name) for name in DRIVER_CANDIDATES if shutil.which(name)), None)
    return (browser, driver) if browser and driver else None


@contextlib.contextmanager
def headless_chromium(width: int = 1280, height: int = 900):
    """A selenium WebDriver on headless Chromium, closed on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_browser()
    if found is None:
        raise RuntimeError("Chromium and ChromeDriver are needed (apt-get install chromium chromium-driver)")
    browser, driver_path = found
    profile = tempfile.mkdtemp(prefix="lamina-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium refuses to sandbox as root
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def check_rendered(page, screenshot=None) -> dict:
    """Load ``page`` (a path) from file:// and report what rendered.

    Returns a dict with counts of images, tables, sections, the lists ``broken_images`` and
    ``empty_tables`` (both empty for a good page) and the page height; writes a full-page PNG
    to ``screenshot`` when given.
    """
    url = pathlib.Path(page).resolve().as_uri()
    with headless_chromium() as driver:
        driver.get(url)
        driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null))).then(done);")
        result = driver.execute_script(_RENDER_PROBE)
        if screenshot is not None:
            height = min(int(result["height"]) + 40, 16_000)
            driver.set_window_size(1280, height)
            pathlib.Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(screenshot))
    return result
