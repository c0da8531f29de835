"""End to end in headless Chromium: the real service (`recs serve`) and the pages people use.

Debian's /usr/bin/chromium driven by Playwright (no browser download). Screenshots are kept
in tests/e2e/artifacts/ to look at.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from tests.conftest import REDIS_URL, remove_prefix
from tests.helpers import fetch, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
RECS = Path(sys.executable).with_name("recs")
PHONE = {"width": 390, "height": 844}
SERVE_DEADLINE_S = 180


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """`recs serve` (gunicorn + an rq worker) on a fresh key prefix, seeded and rebuilt."""
    name = "e2e-" + uuid.uuid4().hex[:10]
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "RECS_PREFIX": name + ":",
        "RECS_QUEUE": name,
        "RECS_API_KEYS": "e2e-" + uuid.uuid4().hex,
        "RECS_DATA_DIR": str(tmp_path_factory.mktemp("var")),
    }
    log_path = tmp_path_factory.mktemp("serve") / "recs-serve.log"
    log = open(log_path, "wb")  # noqa: SIM115 (closed below, after the process)
    proc = subprocess.Popen(
        [str(RECS), "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # On a fresh clone the worker first compiles the ranking kernels (~30 s on a quiet
        # machine, more under load); the page is filled a few seconds after that.
        deadline = time.monotonic() + SERVE_DEADLINE_S
        while time.monotonic() < deadline and proc.poll() is None:
            html = fetch(base + "/films/love-911")
            if html and html.count('class="card"') >= 5:
                break
            time.sleep(0.3)
        else:
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            pytest.fail(
                f"recs serve did not show a filled Love 911 page in {SERVE_DEADLINE_S} s "
                f"(exit {proc.poll()}); its log ends:\n" + "\n".join(tail)
            )
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        remove_prefix(name)


@contextmanager
def served(app):
    """Serve app in a thread on a free port; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), (
        "Chromium is missing: apt-get install -y chromium (.ci/run does)"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=20_000)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="de-DE")
    context.set_default_timeout(10_000)
    page = context.new_page()
    refused = csp_violations(page)
    yield page
    context.close()
    assert refused == [], f"the Content-Security-Policy refused: {refused}"


def csp_violations(page) -> list[str]:
    """Collect what the page's Content-Security-Policy refuses (Chromium logs each to the console)."""
    refused = []
    page.on(
        "console",
        lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return refused


def test_love_911_page_shows_three_filled_sections(service, page):
    page.goto(service + "/films/love-911")
    expect(page.locator("h1")).to_have_text("Love 911 – Lebe und liebe")
    expect(page.locator("main h2")).to_have_text(["Handlung", "Empfehlungen", "Kritiken"])
    expect(page.locator("#handlung .plot")).to_contain_text("Feuerwehrmann")
    expect(page.locator("#kritiken .review").first).to_contain_text("jediprincess")
    cards = page.locator("#empfehlungen .card")
    assert cards.count() >= 5
    expect(cards.first.locator(".chip").first).to_be_visible()
    expect(cards.first.locator(".score-text")).to_have_text(re.compile(r"Ähnlichkeit: [1-5] von 5"))
    page.screenshot(path=str(ARTIFACTS / "love-911.png"), full_page=True)


def test_follow_a_recommendation(service, page):
    page.goto(service + "/films/love-911")
    link = page.locator("#empfehlungen .card h3 a").first
    title = link.inner_text()
    link.click()
    page.wait_for_url("**/films/*?lang=de")
    assert "/films/love-911" not in page.url
    expect(page.locator("h1")).to_have_text(title)
    expect(page.locator("main h2")).to_have_text(["Handlung", "Empfehlungen", "Kritiken"])


def test_search_the_catalog_with_the_keyboard(service, page):
    page.goto(service + "/")
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    outline = page.locator("a.skip").evaluate("a => getComputedStyle(a).outlineStyle")
    assert outline == "solid", "keyboard focus is visible"
    page.get_by_label("Titel").fill("LÖVE")  # accents and case do not matter
    page.get_by_label("Titel").press("Enter")
    page.wait_for_url("**/?lang=de&q=*")
    expect(page.locator("ul.catalog")).to_contain_text("Love 911 – Lebe und liebe")
    expect(page.locator("ul.catalog")).not_to_contain_text("Unforgiven")
    page.get_by_role("link", name="Love 911 – Lebe und liebe").click()
    expect(page.locator("h1")).to_have_text("Love 911 – Lebe und liebe")
    page.goto(service + "/?lang=en")
    page.get_by_label("Genre").select_option("Western")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("ul.catalog")).to_contain_text("Unforgiven")
    expect(page.locator("ul.catalog")).not_to_contain_text("Love 911")


def test_phone_viewport(service, browser):
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="de-DE"
    )
    page = context.new_page()
    try:
        page.goto(service + "/films/love-911")
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"no sideways scrolling on a phone: {widths}"
        box = page.locator("#empfehlungen .card").first.bounding_box()
        assert box["width"] <= PHONE["width"] - 20, "cards stack in one column"
        page.screenshot(path=str(ARTIFACTS / "love-911-phone.png"))
        page.locator("#empfehlungen").screenshot(
            path=str(ARTIFACTS / "love-911-phone-empfehlungen.png")
        )
        page.goto(service + "/")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()


@pytest.mark.parametrize(
    "name, viewport", [("desktop", {"width": 1280, "height": 800}), ("phone", PHONE)]
)
def test_empfehlungen_and_kritiken_are_on_the_first_screen(service, browser, name, viewport):
    phone = name == "phone"
    context = browser.new_context(
        viewport=viewport,
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=2 if phone else 1,
        locale="de-DE",
    )
    page = context.new_page()
    try:
        page.goto(service + "/films/love-911")
        page.screenshot(path=str(ARTIFACTS / f"love-911-first-screen-{name}.png"))
        for selector in (
            "#h-empfehlungen",
            "#empfehlungen .card h3",
            "#h-kritiken",
            "#kritiken .review h3",
        ):
            box = page.locator(selector).first.bounding_box()
            assert box["y"] + box["height"] <= viewport["height"], (selector, box)
        plot = page.locator("#handlung .plot")
        folded = plot.bounding_box()["height"]
        assert folded < 130, "the 4,000-character plot is folded to a few lines"
        page.locator("#handlung summary").click()
        expect(page.locator("#handlung summary .open")).to_have_text("weniger")
        expect(page.locator("#handlung summary .open")).to_be_visible()
        expect(page.locator("#handlung summary .closed")).to_be_hidden()
        assert plot.bounding_box()["height"] > 3 * folded, "mehr opens the whole plot"
        page.screenshot(path=str(ARTIFACTS / f"love-911-full-{name}.png"), full_page=True)
        page.locator("#kritiken .read-on a").first.click()
        expect(page.locator("#kritik .body")).to_contain_text("engrossing love movie")
    finally:
        context.close()


def test_unknown_film_shows_an_html_404(service, page):
    response = page.goto(service + "/films/no-such-film?lang=en")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Film not found")


def test_pending_page_reloads_itself_when_the_list_is_ready(app, client, seeded, run_jobs, page):
    """An in-process server with no worker: the page waits until the test runs the job."""
    client.post(
        "/api/v1/films",
        json={
            "id": "nachtschicht",
            "title": "Nachtschicht",
            "synopsis": {
                "de": "Ein Feuerwehrmann und eine Ärztin in der Notaufnahme eines Krankenhauses."
            },
        },
    )
    with served(app) as base:
        page.goto(base + "/films/nachtschicht")
        expect(page.locator("#recs-status")).to_contain_text("werden gerade berechnet")
        expect(page.locator("#recs-status")).to_contain_text("lädt neu")
        assert page.locator("#empfehlungen .card").count() == 0
        run_jobs()
        expect(page.locator("#empfehlungen .card").first).to_be_visible(timeout=15_000)
        expect(page.locator("#recs-status")).to_have_count(0)


def test_api_docs_load_with_no_outside_host(app, browser):
    """Swagger UI comes from the package: every request to another host is refused, and the
    operations still show."""
    outside = []
    with (
        served(app) as base,
        browser.new_context(viewport={"width": 1200, "height": 900}) as context,
    ):
        context.set_default_timeout(15_000)

        def only_local(route):
            if route.request.url.startswith(base + "/"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", only_local)
        page = context.new_page()
        refused = csp_violations(page)
        response = page.goto(base + "/api/docs")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        expect(page.locator(".opblock").first).to_be_visible()
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert len(paths) >= 20, paths
        assert "/api/v1/films/{film_id}/recommendations" in [p.replace("\u200b", "") for p in paths]
        assert outside == [], f"the docs asked outside hosts: {outside}"
        assert refused == [], f"the Content-Security-Policy refused: {refused}"
        page.screenshot(path=str(ARTIFACTS / "api-docs-offline.png"))
