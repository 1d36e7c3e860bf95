"""Drive the playground page in headless Chromium: paste a key, send a message, see the created task appear.

Uses the system Chromium through Playwright (the `browser` fixture; never downloads one). Set
TASKALIGN_PLAYGROUND_PNG=docs/playground.png to also refresh the screenshot in the docs; otherwise it goes to tmp_path.
"""

import os
import shutil

from tests.serve.conftest import CALL


def test_send_message_and_see_the_task(serve, browser, tmp_path):
    replies = [{"match": "quarterly report", "reply": "Done! I've added it. " + CALL("create_task", {
        "title": "File the quarterly report", "due_date": "2026-03-06", "priority": "high", "tags": ["work"]})},
        {"reply": "Hi! What should I add?"}]
    url, keys, store = serve(replies, mode="agent")
    store.create_task("alice", {"title": "Renew passport", "due_date": "2026-04-01"})
    store.create_task("bob", {"title": "Bob's private task"})
    context = browser.new_context(viewport={"width": 1200, "height": 640})
    try:
        page = context.new_page()
        page.goto(url + "/", timeout=15000)
        page.fill("#key", keys["alice"])
        page.dispatch_event("#key", "change")
        page.wait_for_selector(".task >> text=Renew passport", timeout=10000)
        page.fill("#prompt", "Remind me to file the quarterly report by Friday")
        page.click("#send")
        page.wait_for_selector(".task >> text=File the quarterly report", timeout=10000)
        assert "created 'File the quarterly report'" in page.inner_text(".call")
        assert page.locator(".task").count() == len(store.list_tasks("alice"))  # the page lists all of alice's
        assert "Bob's private task" not in page.content()
        shot = tmp_path / "playground.png"
        page.screenshot(path=str(shot))
    finally:
        context.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("TASKALIGN_PLAYGROUND_PNG"):
        shutil.copy(shot, os.environ["TASKALIGN_PLAYGROUND_PNG"])
