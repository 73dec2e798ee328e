"""`resetbot demo --web` in a real browser: Debian's Chromium, headless, driven by Selenium 4 with the system driver.

`.ci/run` installs `chromium` and `chromium-driver` (.ci/chromium.sh); where neither is on the machine the
browser tests are skipped with the reason, and nothing is downloaded at test time (SE_OFFLINE: Selenium
Manager never fetches a driver or a browser).

Screenshots go to $RESETBOT_TEST_ARTIFACTS, default tests/web/artifacts/ (ignored by git).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.demo import demo_world
from devkit.web.command import PEOPLE
from devkit.web.server import WebDemo

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("RESETBOT_TEST_ARTIFACTS") or Path(__file__).with_name("artifacts"))
# As root Chromium needs --no-sandbox; the network flags keep it from calling out (this machine has no network
# but the package registries, and Chromium's own connections misbehave against a closed one).
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run", "--disable-quic", "--disable-extensions", "--disable-default-apps",
                  "--window-size=1400,1000", "--force-device-scale-factor=1", "--lang=en-US")


def no_browser() -> str | None:
    """Why no browser test can run here, or None."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        return (f"no browser: {' and '.join(missing)} missing (apt-get install chromium chromium-driver; "
                ".ci/run installs them)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "no browser driver: selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "failure.png").unlink(missing_ok=True)  # a failure's screenshot is this run's or none
    print(f"\nbrowser test screenshots: {ARTIFACTS}")
    return ARTIFACTS


@pytest.fixture(scope="module")
def web_demo() -> Iterator[tuple]:
    """What `resetbot demo --web` starts, in this process (so a test can also look at the sandbox): the world
    and the page's address. The transcript is kept for a failing test's report."""
    transcript: list[str] = []
    with tempfile.TemporaryDirectory(prefix="resetbot-web-test-") as tmp, \
            demo_world(transcript.append, tmp, admin=True) as world:
        web = WebDemo(0)
        try:
            web.serve(world.sim, PEOPLE)
            yield world, web.url, transcript
        finally:
            web.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    reason = no_browser()
    if reason:
        pytest.skip(reason)
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="resetbot-chromium-")
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
