"""The demo report in a real browser (headless Chromium, offline): it loads with no network request
and no console error, every section is there, plots are drawn, players play, and clicking a point
of the anomaly map plays that recording.

Needs Debian's chromium at /usr/bin/chromium (``make test`` installs it); the Python playwright
package drives it. No browser is ever downloaded.
"""

from __future__ import annotations

import os

import pytest

from kwscope.report.html import SECTION_IDS
from test_report import demo_report_paths

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run `make test`, which installs it "
                    "(scripts/ensure_system_deps.sh, Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def demo(browser, tmp_path_factory):
    """The demo report opened from disk, with every request and console message recorded."""
    html_path, _ = demo_report_paths(tmp_path_factory)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    console: list[tuple[str, str]] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: console.append((m.type, m.text)))
    page.on("pageerror", lambda e: console.append(("pageerror", str(e))))
    page.goto(html_path.as_uri(), wait_until="load")
    page.wait_for_function("document.body.getAttribute('data-plots-ready') === '1'", timeout=120_000)
    page.mouse.click(5, 5)  # a real click: the user activation that lets scripts start playback
    yield page, requests, console, html_path
    page.close()


def test_loads_offline_without_errors(demo):
    page, requests, console, html_path = demo
    assert requests and requests[0] == html_path.as_uri()
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert [c for c in console if c[0] in ("error", "pageerror")] == []
    for sid in SECTION_IDS:
        assert page.locator(f"section#{sid}").count() == 1, sid
    assert page.locator("nav.toc a").count() == len(SECTION_IDS)


def test_plots_are_drawn_and_images_decoded(demo):
    page = demo[0]
    state = page.evaluate("""() => {
        const divs = [...document.querySelectorAll('div.kw-plotly')];
        const imgs = [...document.querySelectorAll('main img')];
        return {
            plots: divs.length,
            drawn: divs.filter(d => d.querySelector('.main-svg') && d.dataset.rendered === '1').length,
            images: imgs.length,
            decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
        };
    }""")
    assert state["plots"] >= 5 and state["drawn"] == state["plots"]
    assert state["images"] >= 30 and state["decoded"] == state["images"]
    for plot_id in ("plot-spec3d", "anomaly-map-plot"):
        assert page.locator(f"#{plot_id} .main-svg").count() >= 1


PLAY = """async (el) => {
    el.currentTime = 0;
    await el.play();
    const t0 = performance.now();
    while (el.currentTime === 0 && el.readyState < 2 && performance.now() - t0 < 5000) {
        await new Promise(r => setTimeout(r, 50));
    }
    await new Promise(r => setTimeout(r, 250));
    const out = {paused: el.paused, time: el.currentTime, ready: el.readyState, duration: el.duration,
                 error: el.error && el.error.message};
    el.pause();
    return out;
}"""


def test_players_load_and_play(demo):
    page = demo[0]
    players = ["section#examples audio", "section#silence audio[data-clip='trimmed']",
               "section#resampling audio[data-clip='resampled']", "section#outliers audio",
               "section#duplicates audio", "section#quality audio"]
    for sel in players:
        el = page.locator(sel).first
        el.scroll_into_view_if_needed()
        state = el.evaluate(PLAY)
        assert state["error"] is None, (sel, state)
        assert state["duration"] > 0 and (state["time"] > 0 or state["ready"] >= 2), (sel, state)
    # one sound at a time, and the bar names what plays
    first = page.locator("section#outliers audio").first
    path = first.get_attribute("data-path")
    first.evaluate("el => el.play()")
    page.wait_for_function("p => document.getElementById('now-playing-text').dataset.path === p", arg=path)
    first.evaluate("el => el.pause()")


def test_clicking_a_map_point_plays_that_recording(demo):
    page = demo[0]
    page.locator("#anomaly-map-plot").scroll_into_view_if_needed()
    target = page.evaluate("""() => {
        const div = document.getElementById('anomaly-map-plot');
        const clips = window.kwscope.clips;
        for (let c = 0; c < div.data.length; c++) {
            const cd = div.data[c].customdata || [];
            for (let i = 0; i < cd.length; i++) {
                const path = Array.isArray(cd[i]) ? cd[i][0] : cd[i];
                if (clips[path] && !div.data[c].name.includes('playable')) { return {c, i, path}; }
            }
        }
        return null;
    }""")
    assert target, "no playable point in the anomaly map"
    page.evaluate("""(t) => {
        const div = document.getElementById('anomaly-map-plot');
        div.emit('plotly_click', {points: [{curveNumber: t.c, pointNumber: t.i, data: div.data[t.c],
                                            customdata: div.data[t.c].customdata[t.i]}]});
    }""", target)
    page.wait_for_function("p => document.getElementById('now-playing-text').dataset.path === p",
                           arg=target["path"], timeout=10_000)
    assert target["path"] in page.locator("#now-playing-text").inner_text()
    page.wait_for_function("""() => {
        const a = document.getElementById('now-playing-audio');
        return !a.paused && (a.currentTime > 0 || a.readyState >= 2);
    }""", timeout=10_000)
    audio = page.locator("#now-playing-audio")
    assert audio.get_attribute("data-path") == target["path"]
    assert audio.evaluate("a => a.duration") > 0
    audio.evaluate("a => a.pause()")

    # the map's extra points are embedded as Ogg Vorbis: they play too
    ogg = page.evaluate("""() => {
        const audio = JSON.parse(document.getElementById('kw-audio').textContent);
        const hit = Object.entries(window.kwscope.clips).find(([p, c]) => audio[c.a].startsWith('data:audio/ogg'));
        return hit ? hit[0] : null;
    }""")
    assert ogg, "no Vorbis-encoded recording in the page"
    assert page.evaluate("p => window.kwscope.playPath(p)", ogg) is True
    page.wait_for_function("() => { const a = document.getElementById('now-playing-audio');"
                           " return !a.paused && (a.currentTime > 0 || a.readyState >= 2) && a.duration > 0; }",
                           timeout=10_000)
    audio.evaluate("a => a.pause()")

    # a point whose audio is not embedded says so instead of playing
    page.evaluate("() => window.kwscope.playPath('no/such/recording.wav')")
    assert "not embedded" in page.locator("#now-playing-text").inner_text()


def test_label_gallery_switches_labels(demo):
    page = demo[0]
    tabs = page.locator(".ex-tab")
    assert tabs.count() == 10
    tabs.nth(3).click()
    visible = page.locator("#examples-gallery .example:visible")
    assert visible.count() == 1
    assert visible.first.get_attribute("id") == tabs.nth(3).get_attribute("data-target")
    assert visible.locator("img").count() == 3


def test_full_page_screenshot(demo, tmp_path_factory):
    page = demo[0]
    page.evaluate("window.scrollTo(0, 0)")
    shot = tmp_path_factory.getbasetemp() / "kwscope-report-shared" / "demo-report-full.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 100_000
    print(f"full-page screenshot: {shot}")
