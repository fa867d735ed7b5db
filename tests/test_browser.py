"""The annotation web app, driven in a real headless browser: Voila serves app/annotate.ipynb, Chromium clicks.

Needs Debian's chromium (`make test` installs it where it can) and Playwright from PyPI; Playwright's own
browser download is not used.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from helpers import config, store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]


def _missing_browser():
    try:
        import playwright  # noqa: F401
        import voila  # noqa: F401
    except ImportError as err:
        return f"{err.name} is not installed"
    return None if CHROMIUM else "no chromium on PATH (apt-get install chromium)"


@pytest.fixture
def voila_app(tmp_path):
    why = _missing_browser()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {why}")
        pytest.skip(why)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db_path = tmp_path / "annotations.sqlite"
    env = {**os.environ, "FEEDBACKLOOP_PROFILE": "smoke", "FEEDBACKLOOP_STORE": str(db_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "voila", "app/annotate.ipynb", "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1"],
        cwd=config.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "voila.log", "w"))
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "api", timeout=2)
            break
        except urllib.error.HTTPError:   # any HTTP answer means the server is up
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.terminate()
        pytest.fail("voila did not start: " + (tmp_path / "voila.log").read_text()[-2000:])
    yield url, db_path
    server.terminate()
    server.wait(timeout=30)


def progress(page, n: int):
    """The widget's header once n labels are done ("<name>: n of N done"); answers may say "3 of 4 required" too."""
    return page.get_by_text(re.compile(rf"\b{n} of \d+ done"))


def test_recruiter_labels_pairs_by_clicking(voila_app, tmp_path):
    from playwright.sync_api import sync_playwright
    url, db_path = voila_app
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(url, timeout=180_000)
        page.get_by_placeholder("Your name (asked once)").fill("Browser Tester", timeout=180_000)
        page.get_by_role("button", name="Start").click()
        progress(page, 0).wait_for(timeout=60_000)
        screens = []
        for n, choice in enumerate(["A better", "B better", "Tie", "Both bad"], 1):
            screens.append(page.inner_text("body"))
            page.get_by_role("button", name=choice, exact=True).click()
            progress(page, n).wait_for(timeout=30_000)
        # the 1-3 toggles say what they score; an answer cut at the token limit says so (checked below, per item)
        assert all("score the answer you preferred" in s and "accuracy:" in s for s in screens)
        page.get_by_role("button", name="Undo").click()
        progress(page, 3).wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        shots = config.ROOT / "runs" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "app.png", shots / "annotate_app.png")
        browser.close()
    db = store.Store(db_path)
    shown = [db.item(q["item_id"]) for q in db.queue("Browser Tester")[:len(screens)]]
    for screen, item in zip(screens, shown):                            # the note exactly where an answer was cut
        cut = bool(item["tags"].get("cut_a") or item["tags"].get("cut_b"))
        assert ("cut off at the length limit" in screen) == cut, (item["item_id"], item["tags"])
    labels = db.labels("Browser Tester")
    assert len(labels) == 3, labels
    first, second, third = labels
    assert first["winner"] == first["left_side"]                       # "A better" = the left answer
    assert second["winner"] in ("a", "b") and second["winner"] != second["left_side"]
    assert third["winner"] == "tie"
    assert db.count("labels") == 4 and all(l["source"] == "widget" for l in labels)   # the undone one is kept
