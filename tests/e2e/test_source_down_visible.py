"""A dead config source shows where an operator looks, not only at `/ready`: a real
`xdscp serve` whose config directory vanishes is reported by `xdscp proxy-status`
(its first line) and heads the dashboard's problem list in headless Chromium — and
both clear once the directory is back."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_serve_resilience import REPO, canary, get_json, serving
from tests.e2e.test_dashboard import PageWatch, chromium_page

pytestmark = pytest.mark.e2e

WAIT_S = 20.0


def proxy_status(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xdscp.cli", "proxy-status", "--server", url],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        check=False,
    )


def ready_becomes(url: str, code: int) -> dict[str, object]:
    deadline = time.monotonic() + WAIT_S
    while True:
        status, body = get_json(f"{url}/ready")
        if status == code:
            return dict(body)
        assert time.monotonic() < deadline, (status, body)
        time.sleep(0.1)


def test_a_dead_source_shows_in_proxy_status_and_the_dashboard(tmp_path: Path) -> None:
    config = canary(tmp_path)
    with serving(config, tmp_path) as url:
        healthy = proxy_status(url)
        assert healthy.returncode == 0, healthy.stderr
        assert "CONFIG SOURCE DOWN" not in healthy.stdout

        shutil.move(config, tmp_path / "elsewhere")
        assert "does not exist" in str(ready_becomes(url, 503)["reason"])

        down = proxy_status(url)
        assert down.returncode == 0, down.stderr
        first = down.stdout.splitlines()[0]
        # the reason as /ready gives it (its wording moves as the watcher retries)
        assert first.startswith("CONFIG SOURCE DOWN: config watcher stopped: "), first
        assert "does not exist; proxies keep the last good config" in first, first
        assert "Traceback" not in down.stderr

        with chromium_page(tmp_path / "profile") as page:
            watch = PageWatch(page)
            page.goto(f"{url}/")
            item = page.wait_for_selector('#problems li[data-kind="source"]', timeout=15_000)
            assert item is not None
            text = item.inner_text()
            assert "CONFIG SOURCE DOWN" in text and "does not exist" in text, text
            # it heads the list: nothing else is as urgent
            first_kind = page.eval_on_selector("#problems li", "el => el.dataset.kind")
            assert first_kind == "source"

            shutil.move(tmp_path / "elsewhere", config)
            ready_becomes(url, 200)
            page.wait_for_function(
                "() => !document.querySelector('#problems li[data-kind=\"source\"]')",
                timeout=15_000,
            )
            assert watch.problems == []

        back = proxy_status(url)
        assert back.returncode == 0 and "CONFIG SOURCE DOWN" not in back.stdout, back.stdout
