"""The built book in a real browser: headless Chromium driven over the DevTools protocol.

The book is built first when ``_build/html`` is missing or older than its sources (by
``book/build.py``, which starts the offline sandbox), then served on 127.0.0.1. Chromium opens
every page once; the tests below assert on what it saw: console errors, failed requests, broken
internal links and images, notebook figures, the hidden parameter checks, the command-line
reference, and the search box.
"""

from __future__ import annotations

import argparse
import base64
import functools
import html.parser
import importlib.util
import itertools
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urlsplit
from urllib.request import ProxyHandler, build_opener

import pytest
import websocket  # websocket-client, in the test extra

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = ROOT / "_build" / "html"
CACHE_DIR = ROOT / "_build" / ".jupyter_cache"
ARTIFACTS = ROOT / "test-artifacts"
SEARCH_TERM = "cloud_uris"  # a function of roman_helpers.uris, documented by the API reference
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
    "--window-size=1280,900",
]
WINDOW = (1280, 900)  # the width the book is read at: a laptop's browser window
WAIT = 30.0  # seconds for any single browser step; never asserted on
_NO_PROXY = build_opener(ProxyHandler({}))  # loopback only, whatever proxy a sandbox exported


def _load_build_module():
    spec = importlib.util.spec_from_file_location("book_build", ROOT / "book" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- the book and its server


# Building the book executes every tutorial: minutes. The suite keeps about one of CI's two cores
# busy, so tests/conftest.py starts the build in the background once the tests are collected (when
# any test here is selected) and runs these tests last; `built_book` then waits for that build.
_background: dict[str, Any] = {}


def start_background_build() -> None:
    """Start ``book/build.py`` in the background when the built book is missing or stale."""
    if _background or not _load_build_module().is_stale():
        return
    log = Path(tempfile.mkdtemp(prefix="book-build-")) / "build.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "book" / "build.py")],
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    _background.update(process=process, log=log)


def stop_background_build() -> None:
    """Stop a background build the session no longer waits for (an aborted run)."""
    process = _background.get("process")
    if process is not None and process.poll() is None:
        process.terminate()
        process.wait(timeout=60)


@pytest.fixture(scope="module")
def built_book() -> Path:
    """``_build/html``, built by ``book/build.py`` when missing or stale (or by the background build)."""
    if not _background:
        start_background_build()
    process = _background.get("process")
    if process is not None:
        status = process.wait()
        log = _background["log"].read_text()
        assert status == 0, f"book/build.py failed:\n{log[-12000:]}"
    assert (HTML_DIR / "index.html").is_file()
    return HTML_DIR


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def book_url(built_book: Path):
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


# --------------------------------------------------------------------------- Chromium over DevTools


class DevTools:
    """A minimal Chrome DevTools Protocol client for one page target."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=WAIT, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def call(self, method: str, **params: Any) -> dict:
        message_id = next(self.ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, event: str, timeout: float = WAIT, **match: Any) -> dict:
        """Return the first ``event`` (seen or coming) whose params include ``match``."""

        def wanted(message: dict) -> bool:
            params = message.get("params", {})
            return message["method"] == event and all(params.get(k) == v for k, v in match.items())

        deadline = time.monotonic() + timeout
        for message in self.events:
            if wanted(message):
                return message
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                message = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                break
            if "method" in message:
                self.events.append(message)
                if wanted(message):
                    return message
        raise TimeoutError(f"no {event} {match or ''} within {timeout} s")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        """Navigate and return once the page loaded and its network went idle.

        Waiting for idleness keeps late requests (async scripts, the search index) and their
        errors with the page that made them.
        """
        self.events.clear()
        navigation = self.call("Page.navigate", url=url)
        if navigation.get("errorText"):
            raise RuntimeError(f"{url}: {navigation['errorText']}")
        self.wait_for("Page.loadEventFired")
        # Matched by frame, not loader: a redirecting page (the root index.html) gets a new loader.
        self.wait_for("Page.lifecycleEvent", name="networkIdle", frameId=navigation["frameId"])

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def chromium():
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail(
            "Debian's chromium is not installed: run `make browser` "
            "(apt-get install chromium chromium-driver) first"
        )
    profile = tempfile.mkdtemp(prefix="book-chromium-")  # a fresh user-data dir per run
    try:
        process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + WAIT
            while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
                assert process.poll() is None, "chromium exited at start"
                assert time.monotonic() < deadline, "chromium did not open its DevTools port"
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            page = None
            while page is None:
                with _NO_PROXY.open(f"http://127.0.0.1:{port}/json/list", timeout=WAIT) as reply:
                    page = next((t for t in json.load(reply) if t["type"] == "page"), None)
                assert page or time.monotonic() < deadline, "chromium opened no page"
                time.sleep(0 if page else 0.1)
            devtools = DevTools(page["webSocketDebuggerUrl"])
            for domain in ("Page", "Runtime", "Log", "Network"):
                devtools.call(f"{domain}.enable")
            devtools.call("Page.setLifecycleEventsEnabled", enabled=True)
            devtools.call(
                "Emulation.setDeviceMetricsOverride",
                width=WINDOW[0],
                height=WINDOW[1],
                deviceScaleFactor=1,
                mobile=False,
            )
            yield devtools
            devtools.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        # Chromium's helper processes may still be flushing the profile for a moment.
        for _ in range(50):
            shutil.rmtree(profile, ignore_errors=True)
            if not Path(profile).exists():
                break
            time.sleep(0.1)


# --------------------------------------------------------------------------- one visit per page


@dataclass
class PageVisit:
    path: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    output_images: list[dict] = field(default_factory=list)
    text: str = ""  # what a reader sees of the page's article (innerText: hidden parts excluded)
    layout: dict = field(default_factory=dict)  # LAYOUT_JS: how the article fits the window


LINKS_JS = "Array.from(document.querySelectorAll('a[href]'), a => a.href)"
TEXT_JS = "(document.querySelector('article') || document.body).innerText"
# decode() makes lazy images load and resolves only when the image is really displayable.
IMAGES_JS = """
Promise.all(Array.from(document.querySelectorAll('%s'), img => {
  img.loading = 'eager';
  return img.decode().then(
    () => ({src: img.currentSrc || img.src, ok: img.naturalWidth > 0}),
    () => ({src: img.currentSrc || img.src, ok: false}));
}))
"""


# The article at the window's width, measured by the browser's layout (CSS pixels): what runs
# past the text column, tables that need scrolling, text cut off with no way to see it, outputs
# that hide part of a line behind a scroll bar, the headings and the figures as shown.
LAYOUT_JS = """
(() => {
  const article = document.querySelector('article') || document.body;
  const column = article.getBoundingClientRect();
  const text = el => (el.innerText || el.alt || '').trim().replace(/\\s+/g, ' ').slice(0, 90);
  const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const scroller = el => {
    for (let p = el.parentElement; p && p !== article; p = p.parentElement) if (scrolls(p)) return p;
    return null;
  };
  const shown = el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  };
  const where = (el, box) =>
    `${el.tagName.toLowerCase()} at ${Math.round(box.left)}..${Math.round(box.right)} px: ${text(el)}`;
  const result = {window: window.innerWidth, column: [Math.round(column.left), Math.round(column.right)],
                  page: document.documentElement.scrollWidth, overflowing: [], tables: [], clipped: [],
                  outputs: [], headings: [], images: []};
  const blocks = 'table, pre, div.highlight, img, figure, p, li, dt, dd, blockquote, .cell_output, '
    + 'h1, h2, h3, h4, h5, h6';
  for (const el of article.querySelectorAll(blocks)) {
    if (!shown(el)) continue;
    const box = (scroller(el) || el).getBoundingClientRect();  // a scrolled block counts by its window
    if (box.left < column.left - 1 || box.right > column.right + 1) result.overflowing.push(where(el, box));
  }
  for (const table of article.querySelectorAll('table')) {
    if (!shown(table)) continue;
    const room = (scroller(table) || table.parentElement).clientWidth;
    if (table.scrollWidth > room + 1)
      result.tables.push(`${table.scrollWidth} px wide in ${room} px: ${text(table)}`);
  }
  for (const el of article.querySelectorAll('*')) {
    const style = getComputedStyle(el);
    const hides = ['hidden', 'clip'].includes(style.overflowX) || style.textOverflow === 'ellipsis';
    if (hides && shown(el) && el.scrollWidth > el.clientWidth + 1 && text(el))
      result.clipped.push(`${el.scrollWidth} px of text in ${el.clientWidth} px: ${text(el)}`);
  }
  for (const pre of article.querySelectorAll('.cell_output pre')) {
    if (shown(pre) && pre.scrollWidth > pre.clientWidth + 1)
      result.outputs.push(`${pre.scrollWidth} px of text in ${pre.clientWidth} px: ${text(pre)}`);
  }
  for (const h of article.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
    if (shown(h)) result.headings.push({text: h.innerText.replace(/#\\s*$/, '').trim(),
                                        overflows: h.scrollWidth > h.clientWidth + 1});
  }
  for (const img of article.querySelectorAll('img')) {
    if (shown(img) && img.naturalWidth)
      result.images.push({src: img.currentSrc || img.src, natural: img.naturalWidth,
                          shown: img.getBoundingClientRect().width});
  }
  return result;
})()
"""


def _problems(events: list[dict], base: str) -> tuple[list[str], list[str]]:
    console, failed = [], []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            console.append(
                " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            )
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            console.append(details.get("exception", {}).get("description") or details.get("text", ""))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            console.append(f"{params['entry'].get('text')} {params['entry'].get('url', '')}")
        elif method == "Network.responseReceived":
            response = params["response"]
            if response["url"].startswith(base) and response["status"] >= 400:
                failed.append(f"{response['status']} {response['url']}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            failed.append(f"{params.get('errorText')} (request {params.get('requestId')})")
    return console, failed


def notebook_pages() -> list[str]:
    """Book-relative HTML paths of the notebooks in notebooks/."""
    return [f"notebooks/{nb.stem}.html" for nb in sorted((ROOT / "notebooks").glob("*.ipynb"))]


@pytest.fixture(scope="module")
def visits(built_book: Path, book_url: str, chromium: DevTools) -> dict[str, PageVisit]:
    pages = sorted(
        p.relative_to(built_book).as_posix()
        for p in built_book.rglob("*.html")
        if "_static" not in p.parts and "_sources" not in p.parts
    )
    notebooks = set(notebook_pages())
    result = {}
    for path in pages:
        chromium.open(book_url + path)
        visit = PageVisit(path)
        visit.links = chromium.evaluate(LINKS_JS)
        visit.images = chromium.evaluate(IMAGES_JS % "img")
        visit.text = chromium.evaluate(TEXT_JS)
        visit.layout = chromium.evaluate(LAYOUT_JS)
        if path in notebooks:
            visit.output_images = chromium.evaluate(IMAGES_JS % ".cell_output img")
        visit.console_errors, visit.failed_requests = _problems(chromium.events, book_url)
        result[path] = visit
    return result


# --------------------------------------------------------------------------- the tests


def test_every_page_was_opened(visits: dict[str, PageVisit]) -> None:
    required = {
        "book/index.html",
        "book/getting-started.html",
        "book/sandbox.html",
        "book/generated/datasets.html",
        "book/cli.html",
        "book/api.html",
        "book/notebooks.html",
        "search.html",
        *notebook_pages(),
    }
    assert required <= set(visits), f"pages missing from the build: {required - set(visits)}"
    api_pages = [p for p in visits if p.startswith("book/api/reference/")]
    assert len(api_pages) >= 3, "the API reference should have a page per module"
    ARTIFACTS.mkdir(exist_ok=True)
    summary = {
        path: {"links": len(v.links), "images": len(v.images), "figures": len(v.output_images)}
        for path, v in visits.items()
    }
    (ARTIFACTS / "book-pages.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\npages opened in Chromium: {len(visits)}")


def test_pages_say_where_outputs_come_from(chromium: DevTools, book_url: str, built_book: Path) -> None:
    against = json.loads((built_book.parent / ".book-built").read_text())["against"]
    chromium.open(book_url + "book/index.html")
    banner = chromium.evaluate(
        "(document.querySelector('.bd-header-announcement') || {innerText: ''}).innerText"
    )
    if against == "sandbox":
        assert "offline sandbox" in banner
    else:
        assert "offline sandbox" not in banner


def test_no_console_errors_or_failed_requests(visits: dict[str, PageVisit]) -> None:
    problems = {
        path: v.console_errors + v.failed_requests
        for path, v in visits.items()
        if v.console_errors or v.failed_requests
    }
    assert not problems


class _Anchors(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


@functools.cache
def _anchors(file: Path) -> frozenset[str]:
    parser = _Anchors()
    parser.feed(file.read_text(errors="replace"))
    return frozenset(parser.ids)


def test_no_broken_internal_links(visits: dict[str, PageVisit], book_url: str, built_book: Path) -> None:
    broken, checked = [], 0
    for path, visit in visits.items():
        for link in visit.links:
            if not link.startswith(book_url):
                continue  # repository, launch and external references are not served here
            target, fragment = urldefrag(link)
            relative = unquote(urlsplit(target).path).lstrip("/")
            file = built_book / relative
            if file.is_dir() or not relative:
                file = file / "index.html"
            checked += 1
            if not file.is_file():
                broken.append(f"{path} -> {relative} (no such file)")
            elif fragment and file.suffix == ".html" and unquote(fragment) not in _anchors(file):
                broken.append(f"{path} -> {relative}#{fragment} (no such anchor)")
    assert checked > len(visits), "expected every page to link to other pages"
    assert not broken, "\n".join(broken)


def test_no_broken_images(visits: dict[str, PageVisit]) -> None:
    broken = [
        f"{path}: {image['src']}"
        for path, visit in visits.items()
        for image in visit.images
        if not image["ok"]
    ]
    assert not broken, "\n".join(broken)


def _executed(source: Path):
    """The build's executed copy of the notebook ``source``, as published.

    It is read from the build's jupyter-cache (the newest record whose ``uri`` is the source
    path); ``_build/jupyter_execute`` is not used because myst-nb leaves its copy without
    outputs on incremental builds.
    """
    from jupyter_cache import get_cache

    cache = get_cache(CACHE_DIR)
    records = [r for r in cache.list_cache_records() if Path(r.uri) == source]
    assert records, f"{source.name}: the build did not execute it"
    newest = max(records, key=lambda record: record.created)
    return cache.get_cache_bundle(newest.pk).nb


def _executed_image_outputs(source: Path) -> int:
    """Count the image outputs of the build's executed copy of ``source``."""
    notebook = _executed(source)
    return sum(
        1
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if any(m.startswith("image/") for m in output.get("data", {}))
    )


# A Python warning as printed ("UserWarning: ...", "TqdmWarning: ..."), astropy's log ("WARNING: ...")
# or a library's log line ("[IPKernelApp] WARNING | ..."), anywhere in an output.
WARNING_TEXT = re.compile(r"\b\w*Warning\b|\bWARNING\b|\bwarnings\.warn\(")


def _output_texts(output) -> list[tuple[str, str]]:
    """(where, text) of every text an output shows: streams, plain text, HTML, errors."""
    if output.output_type == "stream":
        return [(output.name, output.text)]
    if output.output_type == "error":
        return [("error", f"{output.ename}: {output.evalue}")]
    return [
        (mime, value if isinstance(value, str) else "".join(value))
        for mime, value in output.get("data", {}).items()
        if mime.startswith("text/")
    ]


def test_published_notebooks_show_no_warnings(built_book: Path) -> None:
    """No warning of any kind, and nothing on standard error, in the executed tutorials."""
    found = []
    for page in notebook_pages():
        source = ROOT / Path(page).with_suffix(".ipynb")
        for cell in _executed(source).cells:
            for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
                for where, text in _output_texts(output):
                    if where in ("stderr", "error") or WARNING_TEXT.search(text):
                        found.append(f"{source.name} cell {cell.id} ({where}): {text.strip()[:300]}")
    assert not found, "\n".join(found)


def test_notebook_pages_show_their_figures(visits: dict[str, PageVisit]) -> None:
    pages = notebook_pages()
    assert pages, "no notebooks in notebooks/"
    shown_total = 0
    for page in pages:
        expected = _executed_image_outputs(ROOT / Path(page).with_suffix(".ipynb"))
        shown = visits[page].output_images
        assert len(shown) == expected, f"{page}: {len(shown)} figures shown, {expected} made"
        assert all(image["ok"] for image in shown), f"{page}: a figure did not render"
        shown_total += len(shown)
    assert shown_total > 0, "no notebook page shows a figure"


def test_notebook_pages_offer_download_and_launch(visits: dict[str, PageVisit], book_url: str) -> None:
    for page in notebook_pages():
        stem = Path(page).stem
        links = visits[page].links
        download = book_url + f"_sources/notebooks/{stem}.ipynb"
        assert download in links, f"{page}: no download link for the notebook"
        launch = [link for link in links if "/hub/user-redirect/git-pull?" in link]
        assert launch, f"{page}: no JupyterHub launch link"
        assert launch[0].endswith(f"notebooks/{stem}.ipynb&branch=main"), launch[0]


def test_search_box_finds_a_helper_by_name(chromium: DevTools, book_url: str) -> None:
    chromium.open(book_url + "book/index.html")
    submitted = chromium.evaluate(f"""(() => {{
        const input = document.querySelector('form[action$="search.html"] input[name="q"]');
        if (!input) return false;
        input.value = {json.dumps(SEARCH_TERM)};
        input.form.submit();
        return true;
    }})()""")
    assert submitted, "no search box on the landing page"
    chromium.events.clear()
    chromium.wait_for("Page.loadEventFired")
    deadline = time.monotonic() + WAIT
    hits: list[str] = []
    while time.monotonic() < deadline:
        hits = chromium.evaluate(
            "Array.from(document.querySelectorAll('#search-results li'), li => li.innerText)"
        )
        finished = chromium.evaluate("!!document.querySelector('#search-results p.search-summary')")
        if hits or finished:
            break
        time.sleep(0.2)
    assert "search.html" in chromium.evaluate("location.pathname")
    assert any(SEARCH_TERM in hit for hit in hits), f"search for {SEARCH_TERM!r} found {hits}"


def _screenshot(chromium: DevTools, url: str, name: str) -> Path:
    chromium.open(url)
    data = chromium.call("Page.captureScreenshot", format="png")["data"]
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / name
    target.write_bytes(base64.b64decode(data))
    return target


def test_screenshots_of_landing_and_notebook_pages(
    chromium: DevTools, book_url: str, visits: dict[str, PageVisit]
) -> None:
    pages = notebook_pages()
    assert pages, "no notebooks in notebooks/"
    with_figures = [p for p in pages if visits[p].output_images] or pages
    shots = [
        _screenshot(chromium, book_url + "book/index.html", "book-landing.png"),
        _screenshot(chromium, book_url + with_figures[0], "book-notebook.png"),
    ]
    for shot in shots:
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 10_000, f"{shot} looks blank"


def test_notebook_pages_hide_the_parameter_check(visits: dict[str, PageVisit]) -> None:
    """The papermill parameters are shown, the check after them only by its output."""
    import nbformat

    for page in notebook_pages():
        source = ROOT / Path(page).with_suffix(".ipynb")
        nb = nbformat.read(source, as_version=4)
        [parameters] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        dataset = next(line for line in parameters.source.splitlines() if line.startswith("dataset"))
        text = visits[page].text
        assert dataset in text.replace("\u201c", '"').replace("\u201d", '"'), f"{page}: no parameters"
        assert "check_parameters(" not in text, f"{page}: the check's code is shown"
        assert f"dataset {dataset.split('=')[1].strip()[1:-1]!r}:" in text, (
            f"{page}: the check's output (the checked values) is missing"
        )


SECTIONS_JS = """
Array.from(document.querySelectorAll('article section'), s => {
  const h = s.querySelector('h1, h2, h3, h4, h5, h6');
  return [h ? h.innerText.replace(/#$/, '').trim() : '', s.innerText];
})
"""


def _commands(parser: argparse.ArgumentParser, name: str) -> dict[str, argparse.ArgumentParser]:
    """``{"roman-helpers sandbox up": parser, ...}`` for the command and all its sub-commands."""
    found = {name: parser}
    for action in parser._actions:  # argparse has no public accessor for sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            for child_name, child in action.choices.items():
                found.update(_commands(child, f"{name} {child_name}"))
    return found


def test_cli_page_shows_every_command_with_its_options(
    chromium: DevTools, book_url: str, built_book: Path
) -> None:
    from roman_helpers.cli import build_parser

    chromium.open(book_url + "book/cli.html")
    sections = dict(chromium.evaluate(SECTIONS_JS))
    commands = _commands(build_parser(), "roman-helpers")
    assert len(commands) >= 10
    missing = []
    for name, parser in commands.items():
        text = sections.get(name) if name != "roman-helpers" else chromium.evaluate(TEXT_JS)
        if text is None:
            missing.append(f"{name}: no section")
            continue
        options = [  # a hidden option (help=SUPPRESS: kept for old scripts, does nothing) is not shown
            o
            for a in parser._actions
            if not isinstance(a, argparse._HelpAction) and a.help != argparse.SUPPRESS
            for o in a.option_strings
        ]
        missing += [f"{name}: {option}" for option in options if option not in text]
    assert not missing, "\n".join(missing)


# --------------------------------------------------------------------------- the book at its width


def _by_page(visits: dict[str, PageVisit], key: str) -> dict[str, list]:
    return {path: v.layout[key] for path, v in visits.items() if v.layout.get(key)}


def test_layout_was_measured_at_the_books_width(visits: dict[str, PageVisit]) -> None:
    """Every page measured with the window the book is read in; the widths go to the artifacts."""
    widths = {path: (v.layout["window"], v.layout["column"]) for path, v in visits.items()}
    assert {window for window, _ in widths.values()} == {WINDOW[0]}
    columns = {right - left for _, (left, right) in widths.values()}
    assert min(columns) >= 600, f"text column widths {sorted(columns)}"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "book-widths.json").write_text(
        json.dumps({path: {"window": w, "column": c} for path, (w, c) in widths.items()}, indent=1) + "\n"
    )


def test_nothing_runs_past_the_page_or_its_text_column(visits: dict[str, PageVisit]) -> None:
    """No page scrolls sideways, and no table, code block, figure or paragraph leaves the column
    (a block that scrolls inside the column counts by its scroll window)."""
    wider = {path: v.layout["page"] for path, v in visits.items() if v.layout["page"] > v.layout["window"]}
    assert not wider, f"pages wider than the window: {wider}"
    assert not _by_page(visits, "overflowing")


def test_tables_fit_their_column(visits: dict[str, PageVisit]) -> None:
    """At the book's width a reader sees every column of every table without scrolling."""
    assert not _by_page(visits, "tables")


def test_no_text_is_clipped(visits: dict[str, PageVisit]) -> None:
    """No text is hidden past an edge; code outputs wrap at the column instead of ending mid-word
    with the rest of the line behind a scroll bar."""
    assert not _by_page(visits, "clipped")
    assert not _by_page(visits, "outputs")
    outputs = sum(1 for v in visits.values() if "cell_output" in v.text or v.path in notebook_pages())
    assert outputs, "no notebook page measured"


# A heading that ends on one of these words reads as cut off ("1. Cloud locations on").
DANGLING = {
    "a",
    "an",
    "and",
    "as",
    "at",
    "by",
    "for",
    "from",
    "in",
    "into",
    "of",
    "on",
    "or",
    "the",
    "to",
    "with",
}


def test_headings_are_whole(visits: dict[str, PageVisit]) -> None:
    cut, overflowing, seen = [], [], 0
    for path, visit in visits.items():
        for heading in visit.layout["headings"]:
            seen += 1
            words = re.findall(r"[\w']+", heading["text"].lower())
            if len(words) > 1 and words[-1] in DANGLING:  # a lone "A" heads the index's letter A
                cut.append(f"{path}: {heading['text']!r}")
            if heading["overflows"]:
                overflowing.append(f"{path}: {heading['text']!r}")
    assert seen > len(visits)
    assert not cut, "headings that read as cut off:\n" + "\n".join(cut)
    assert not overflowing, "headings wider than the column:\n" + "\n".join(overflowing)


def _png_dpi(file: Path) -> float | None:
    """The resolution a PNG declares (its pHYs chunk; matplotlib writes the figure's dpi)."""
    data = file.read_bytes()
    position = 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        if kind == b"pHYs":
            x, _y, unit = struct.unpack(">IIB", data[position + 8 : position + 17])
            return x * 0.0254 if unit == 1 else None
        if kind == b"IDAT":
            return None
        position += 12 + length
    return None


# Matplotlib draws tick labels at 10 pt unless told otherwise; at 9 pt or more on the page they
# stay legible. A figure shown smaller than drawn shrinks its lettering by the same factor.
TICK_PT, LEGIBLE_PT = 10, 9


def test_figures_are_legible_at_page_width(
    visits: dict[str, PageVisit], book_url: str, built_book: Path
) -> None:
    """Each figure's 10 pt tick labels are at least 9 pt as shown: it is not shrunk much below the
    size it was drawn at (inches from its pixels and the resolution it declares, 96 px an inch on
    the page). The performance page's own font sizes are checked by tests/test_bench_figures.py."""
    small, measured = [], {}
    for path, visit in visits.items():
        for image in visit.layout["images"]:
            if not image["src"].startswith(book_url) or not image["src"].endswith(".png"):
                continue
            file = built_book / unquote(urlsplit(image["src"]).path).lstrip("/")
            dpi = _png_dpi(file)
            if dpi is None:
                continue  # not a plot: no declared resolution
            drawn_inches, shown_inches = image["natural"] / dpi, image["shown"] / 96
            tick_pt = TICK_PT * shown_inches / drawn_inches
            measured[f"{path} {file.name}"] = round(tick_pt, 1)
            if tick_pt < LEGIBLE_PT:
                small.append(
                    f"{path}: {file.name} drawn {drawn_inches:.1f} in wide, shown {shown_inches:.1f} in: "
                    f"10 pt labels become {tick_pt:.1f} pt"
                )
    assert measured, "no figure measured"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "book-figures.json").write_text(json.dumps(measured, indent=1) + "\n")
    assert not small, "\n".join(small)
