"""The API's /docs and /redoc pages work on a network that reaches no internet: every file they
load comes from this server (assets of an installed package), and headless Chromium, with every
outside host unresolvable, renders each to a page that is not blank."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from gospulse.api.app import create_app
from gospulse.api.tokens import TokenStore

PAGES = ("/docs", "/redoc")
# what an asset of each kind is served as, and the least it may weigh (the real files are
# hundreds of kilobytes; an error page or an empty file is not)
KINDS = {
    ".js": ("javascript", 100_000),
    ".css": ("text/css", 10_000),
    ".png": ("image/png", 500),
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    # the docs hold no data: no published copy and no token are needed to read them
    root = tmp_path_factory.mktemp("api-docs")
    store = TokenStore(root / "tokens.json")
    token, _ = store.add("docs-reader", "*")
    app = create_app(root / "absent.duckdb", store)
    return SimpleNamespace(app=app, client=TestClient(app), token=token)


def _references(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page)


@pytest.mark.parametrize("path", PAGES)
def test_a_docs_page_names_no_outside_address(api: SimpleNamespace, path: str) -> None:
    r = api.client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    # neither an absolute nor a protocol-relative address, in a tag or in the inline script
    assert not re.search(r"https?:|(?<![:/])//[a-z0-9]", page, re.IGNORECASE), page
    refs = _references(page)
    assert refs, page
    assert all(ref.startswith("/") and not ref.startswith("//") for ref in refs), refs


@pytest.mark.parametrize("path", PAGES)
def test_every_file_a_docs_page_loads_is_served_here(api: SimpleNamespace, path: str) -> None:
    refs = _references(api.client.get(path).text)
    kinds = {Path(ref).suffix for ref in refs}
    assert ".js" in kinds and ".png" in kinds, refs
    if path == "/docs":
        assert ".css" in kinds, refs
    for ref in refs:
        r = api.client.get(ref)
        assert r.status_code == 200, (ref, r.status_code)
        media, least = KINDS[Path(ref).suffix]
        assert media in r.headers["content-type"], (ref, r.headers["content-type"])
        assert len(r.content) >= least, (ref, len(r.content))


def test_the_spec_is_still_served_and_lists_no_docs_route(api: SimpleNamespace) -> None:
    r = api.client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.")
    assert "/health" in spec["paths"] and "/marts" in spec["paths"]
    assert not [p for p in spec["paths"] if p.startswith(("/docs", "/redoc"))]


def test_the_rest_of_the_api_keeps_its_token_and_parameter_rules(api: SimpleNamespace) -> None:
    assert api.client.get("/marts").status_code == 401
    # past the token, the missing publication answers, not the docs' static files
    r = api.client.get("/marts", headers={"Authorization": f"Bearer {api.token}"})
    assert r.status_code == 503, r.text
    refused = api.client.get("/health", params={"colour": "blue"})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "colour"]


@pytest.mark.parametrize("path", PAGES)
def test_headless_chromium_renders_a_docs_page_with_no_outside_host(
    api: SimpleNamespace, tmp_path: Path, path: str
) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("CI: chromium is not installed (.ci/run installs it)")
        pytest.skip("no chromium on this machine")
    from tests.test_api import _serving

    base, server, thread = _serving(api.app)
    shot = tmp_path / "docs.png"
    try:
        rendered = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={tmp_path / 'profile'}",
                # the closed office network: only this server resolves
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                # time for the page's script to fetch the spec and draw the operations
                "--virtual-time-budget=10000",
                "--window-size=1200,1600",
                f"--screenshot={shot}",
                "--dump-dom",
                f"{base}{path}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.should_exit = True
        thread.join(10)
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    # the page drew an operation of the spec it fetched from this server (its summary)
    assert "Latest Region Bundle" in rendered.stdout, rendered.stdout[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1600, 1200)
    assert pixels.std() > 0.05  # not a blank page
