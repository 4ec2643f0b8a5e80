"""The report of a dataset with hostile label and file names (``<!--``, script tags, quotes, escape
sequences) in headless Chromium: every interactive figure draws and no script from a name runs
(issue 16, item 4: one ``<!--`` used to stop every Plotly figure, the anomaly map included)."""

from __future__ import annotations

import pytest

from hostile_names import HOSTILE_LABELS, MANIFEST_LABELS, hostile_dataset, hostile_manifest
from kwscope.io.index import index_dataset
from kwscope.report.build import build_report
from kwscope.settings import RunSettings
from test_report_browser import browser  # noqa: F401  (the shared Chromium fixture)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("kind", ["folder", "manifest"])
def test_every_figure_draws_with_hostile_names(browser, tmp_path, kind):  # noqa: F811
    # A manifest carries what a folder name cannot: "</script>", CR LF, a screen-clearing escape.
    data = hostile_dataset(tmp_path / "data") if kind == "folder" else hostile_manifest(tmp_path / "data")
    labels = set(index_dataset(data)["label"].dropna())  # as read (a manifest's CR LF is dropped)
    assert len(labels) == len(HOSTILE_LABELS if kind == "folder" else MANIFEST_LABELS)
    out = tmp_path / "report.html"
    build_report(data, out, settings=RunSettings(workers=1, cache_dir=None, progress=False))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    console, dialogs = [], []
    page.on("console", lambda m: console.append((m.type, m.text)))
    page.on("pageerror", lambda e: console.append(("pageerror", str(e))))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(out.as_uri(), wait_until="load")
    page.wait_for_function("document.body.getAttribute('data-plots-ready') === '1'", timeout=120_000)
    state = page.evaluate("""() => {
        const divs = [...document.querySelectorAll('div.kw-plotly')];
        return {plots: divs.length, ids: divs.map(d => d.id),
                drawn: divs.filter(d => d.querySelector('.main-svg') && d.dataset.rendered === '1').map(d => d.id),
                pwned: window.__pwned === 1, clips: Object.entries(JSON.parse(
                    document.getElementById('kw-clips').textContent)).map(([p, c]) => [p, c.label]),
                traces: divs.flatMap(d => (d.data || []).map(t => t.name || ''))};
    }""")
    page.close()
    assert [c for c in console if c[0] in ("error", "pageerror")] == []
    assert dialogs == [] and not state["pwned"]
    assert "anomaly-map-plot" in state["ids"] and state["plots"] >= 4
    assert state["drawn"] == state["ids"]
    # the names reach the page's data intact: a recording of every label is playable
    assert {label for _, label in state["clips"]} == labels
    if kind == "folder":
        assert any(p.startswith("<!--/") for p, _ in state["clips"])

