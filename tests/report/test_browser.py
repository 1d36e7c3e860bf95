"""Open the reports in headless Chromium (Debian's package driven by Playwright, no download): no console errors, no
network requests, and every chart is drawn (each image's area in a full-page screenshot has real content)."""

import pytest
from PIL import Image

from taskalign.report import compare, write_report
from taskalign.taxonomy import FAILURE_MODES

IMAGES = "Array.from(document.images).map(i => {const r = i.getBoundingClientRect(); " \
         "return [i.naturalWidth, i.naturalHeight, i.complete, r.left + scrollX, r.top + scrollY, r.width, r.height]})"
LOCAL = ("file:", "data:", "about:")


@pytest.fixture
def page(browser):
    """A fresh page whose `problems` lists console errors, uncaught exceptions and every request that is not local
    (such requests are also aborted, so a page that tries one still finishes loading)."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    opened.problems = []
    opened.on("console", lambda m: m.type in ("error", "assert")
              and opened.problems.append(f"console.{m.type}: {m.text}"))
    opened.on("pageerror", lambda exc: opened.problems.append(f"exception: {exc}"))

    def outside(route):
        opened.problems.append(f"network request: {route.request.url}")
        route.abort()

    opened.route(lambda url: not url.startswith(LOCAL), outside)
    yield opened
    context.close()


def rendered_charts(page, url: str, shot) -> list[tuple]:
    """Open url, screenshot the whole page, and return (colours in the image area, image size) per <img>."""
    page.goto(url)
    images = page.evaluate(IMAGES)
    page.screenshot(path=str(shot), full_page=True)
    full = Image.open(shot).convert("RGB")
    out = []
    for natural_w, natural_h, complete, x, y, w, h in images:
        assert complete and natural_w > 0 and natural_h > 0 and w > 100 and h > 50
        crop = full.crop((int(x), int(y), int(x + w), int(y + h)))
        out.append((len(crop.getcolors(maxcolors=1 << 20) or []), (natural_w, natural_h)))
    return out


def test_report_renders_in_chromium_without_errors(page, run_dir, tmp_path):
    charts = rendered_charts(page, write_report(run_dir).as_uri(), tmp_path / "report.png")
    assert page.problems == []
    assert len(charts) == 1 + len(FAILURE_MODES)  # overview + one per failure mode (the run has cases for each)
    assert all(colours > 20 for colours, _ in charts), charts  # bars, text and axes, not a blank box
    assert Image.open(tmp_path / "report.png").size[1] > 3000  # the full page, not only the first screen


def test_compare_renders_in_chromium_without_errors(page, pipeline_dir, tmp_path):
    out = compare([pipeline_dir / n for n in ("base", "sft", "aligned")], pipeline_dir / "compare.html")
    charts = rendered_charts(page, out.as_uri(), tmp_path / "compare.png")
    assert page.problems == []
    assert len(charts) == 2 and all(colours > 20 for colours, _ in charts)  # metrics + training curves


def test_driver_sees_console_errors_and_network_requests(page, tmp_path):
    # The checks above only mean something if a broken page would fail them.
    bad = tmp_path / "bad.html"
    bad.write_text('<img src="http://192.0.2.1/x.png"><script>console.error("boom"); undefined_call();</script>')
    page.goto(bad.as_uri())
    problems = " | ".join(page.problems)
    assert "console.error: boom" in problems and "undefined_call" in problems and "192.0.2.1" in problems
