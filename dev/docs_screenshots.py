"""Screenshot a pipeline's SFT report and its base → SFT → aligned comparison into docs/report.png and docs/compare.png.

    .venv/bin/python -m dev.docs_screenshots runs/demo [--docs docs]
Both pages are rebuilt from the pipeline folder with the current templates, then opened in Debian's headless Chromium
through Playwright (pip install -e '.[dev]'; apt-get install chromium; no browser download).
"""

import argparse
import json
import shutil
from pathlib import Path

from taskalign.report import compare, write_report

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def pages(pipeline: Path) -> dict[str, Path]:
    manifest = json.loads((pipeline / "pipeline.json").read_text())
    runs = {label: pipeline / folder for label, folder in manifest["runs"].items()}
    return {"report.png": write_report(runs["sft"]),
            "compare.png": compare(list(runs.values()), pipeline / manifest["report"])}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline", type=Path, help="a folder written by `taskalign pipeline` (it has pipeline.json)")
    parser.add_argument("--docs", type=Path, default=Path(__file__).resolve().parents[1] / "docs")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1100, "height": 1500})
        for name, html in pages(args.pipeline).items():
            page.goto(html.as_uri())
            page.screenshot(path=str(args.docs / name))
            print(f"wrote {args.docs / name}")
        browser.close()


if __name__ == "__main__":
    main()
