"""Open the reports in headless Chromium (Debian's package, no download): no console errors, no network requests,
and every chart is drawn (each image's area in a full-page screenshot has real content)."""

import pytest
from cdp import Page, find_chromium
from PIL import Image

from taskalign.report import compare, write_report

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install "
                                "chromium); the browser check needs it and never downloads a browser")
IMAGES = "JSON.stringify(Array.from(document.images).map(i => {const r = i.getBoundingClientRect(); " \
         "return [i.naturalWidth, i.naturalHeight, i.complete, r.left + scrollX, r.top + scrollY, r.width, r.height]}))"


@pytest.fixture
def page(tmp_path):
    opened = Page(CHROMIUM, tmp_path / "profile")
    yield opened
    opened.close()


def rendered_charts(page: Page, url: str, shot) -> list[tuple]:
    """Open url, screenshot the whole page, and return (colours in the image area, image size) per <img>."""
    import json

    page.open(url)
    images = json.loads(page.evaluate(IMAGES))
    page.screenshot(shot, full_page=True)
    full = Image.open(shot).convert("RGB")
    out = []
    for natural_w, natural_h, complete, x, y, w, h in images:
        assert complete and natural_w > 0 and natural_h > 0 and w > 100 and h > 50
        crop = full.crop((int(x), int(y), int(x + w), int(y + h)))
        out.append((len(crop.getcolors(maxcolors=1 << 20) or []), (natural_w, natural_h)))
    return out


def test_report_renders_in_chromium_without_errors(page, run_dir, tmp_path):
    charts = rendered_charts(page, write_report(run_dir).as_uri(), tmp_path / "report.png")
    assert page.problems() == []
    assert len(charts) == 9  # overview + the 8 failure modes that have cases in the fixture
    assert all(colours > 20 for colours, _ in charts), charts  # bars, text and axes, not a blank box
    assert Image.open(tmp_path / "report.png").size[1] > 3000  # the full page, not only the first screen


def test_compare_renders_in_chromium_without_errors(page, pipeline_dir, tmp_path):
    out = compare([pipeline_dir / n for n in ("base", "sft", "aligned")], pipeline_dir / "compare.html")
    charts = rendered_charts(page, out.as_uri(), tmp_path / "compare.png")
    assert page.problems() == []
    assert len(charts) == 2 and all(colours > 20 for colours, _ in charts)  # metrics + training curves


def test_driver_sees_console_errors_and_network_requests(page, tmp_path):
    # The checks above only mean something if a broken page would fail them.
    bad = tmp_path / "bad.html"
    bad.write_text('<img src="http://192.0.2.1/x.png"><script>console.error("boom"); undefined_call();</script>')
    page.open(bad.as_uri())
    problems = " | ".join(page.problems())
    assert "console.error" in problems and "undefined_call" in problems and "192.0.2.1" in problems
