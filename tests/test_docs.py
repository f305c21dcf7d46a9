"""The docs site builds offline and renders in a real browser; README.md is in sync with index.ipynb.

The site is built once (tools/build_docs.py into a temporary folder), served over loopback with
http.server and opened in headless Chromium driven over the DevTools protocol. A page fails when it
is blank, throws or logs a JavaScript error, requests anything off loopback (no CDN), or shows raw
TeX instead of typeset maths. The browser tests skip only when /usr/bin/chromium is absent.

Budget: the whole file runs in well under 90 s (build ~10 s, each page a few seconds); every wait
below has its own deadline. DIFFEDU_DOCS_TEST_ROOT points the tests at another project root
(used to test the toolchain on throwaway notebooks).
"""

from __future__ import annotations

import functools
import html as html_lib
import http.server
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

# one pytest-xdist worker builds the site once for every test of this file (make test runs `pytest -n 2 --dist loadgroup`)
pytestmark = [pytest.mark.xdist_group("docs")]
try:  # honoured when pytest-timeout is installed; the waits below have their own deadlines anyway
    import pytest_timeout  # noqa: F401

    pytestmark.append(pytest.mark.timeout(90))
except ImportError:
    pass

REPO = Path(__file__).resolve().parents[1]
ROOT = Path(os.environ.get("DIFFEDU_DOCS_TEST_ROOT", REPO)).resolve()
BUILD_SCRIPT = REPO / "tools" / "build_docs.py"
VENV_PY = REPO / ".venv" / "bin" / "python"
PYTHON = str(VENV_PY if VENV_PY.exists() else Path(sys.executable))
CHROMIUM = "/usr/bin/chromium"
BUILD_TIMEOUT = 240  # about 40 s alone; make test builds it beside a second pytest worker running notebooks
PAGE_TIMEOUT = 30

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# raw TeX that should have been typeset: $$, \( \) \[ \], common commands, $...$ holding _ ^ or \
TEX_LEFT = re.compile(
    r"\$\$|\\\(|\\\)|\\\[|\\\]"
    r"|\\(?:frac|dfrac|sigma|mathbb|mathcal|mathrm|mathbf|boldsymbol|epsilon|varepsilon|alpha|beta|gamma"
    r"|delta|theta|lambda|mu|nabla|sum|prod|int|sqrt|cdot|left|right|begin|end|hat|tilde|bar|log|exp"
    r"|mid|sim|partial|infty|leq|geq|le|ge|approx|operatorname|text|quad|top|Sigma|Delta)\b"
    r"|(?<![\w$])\$[^$\s][^$\n]{0,120}?[_^\\][^$\n]{0,120}?\$(?!\w)"
)


def _load_build_docs():
    spec = importlib.util.spec_from_file_location("build_docs", BUILD_SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _course_notebooks() -> list[Path]:
    return sorted(p for p in (ROOT / "nbs").glob("[0-9]*.ipynb") if not p.name.startswith("_"))


def _has_maths(nb_path: Path) -> bool:
    "Does a notebook's markdown hold $...$, $$...$$ or an amsmath environment?"
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    return any(re.search(r"\$\$|\$[^$\n]+\$|\\begin\{", c.source) for c in nb.cells if c.cell_type == "markdown")


# ----------------------------------------------------------------------------------------------
# fixtures: build, serve, browse
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    assert (ROOT / "index.ipynb").exists(), f"{ROOT / 'index.ipynb'} is missing: it is the docs home page"
    tmp = tmp_path_factory.mktemp("docs")
    out = tmp / "site"
    cmd = [PYTHON, str(BUILD_SCRIPT), "--root", str(ROOT), "--out", str(out),
           "--stage", str(tmp / "src"), "--no-readme", "--strict"]  # a Sphinx warning fails the build
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"docs build took longer than {BUILD_TIMEOUT} s")
    assert r.returncode == 0, f"docs build failed:\n{r.stdout[-4000:]}\n{r.stderr[-8000:]}"
    print(f"docs built in {time.perf_counter() - t0:.1f} s")
    assert (out / "index.html").exists()
    return out


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent (install Debian's chromium: make system-deps)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    log = open(profile.parent / "chromium.log", "wb")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--window-size=1280,900",
         f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         "about:blank"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        port = None
        while time.monotonic() < deadline and proc.poll() is None:
            if port_file.exists():
                lines = port_file.read_text().split()
                if lines and lines[0].isdigit():
                    port = int(lines[0])
                    break
            time.sleep(0.1)
        if port is None:
            log.flush()
            tail = (profile.parent / "chromium.log").read_bytes()[-3000:].decode(errors="replace")
            pytest.fail(f"headless Chromium did not start (exit {proc.poll()}):\n{tail}")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the process group started above
            proc.wait(5)
        log.close()


# ----------------------------------------------------------------------------------------------
# a minimal Chrome DevTools Protocol client
# ----------------------------------------------------------------------------------------------
class CDP:
    def __init__(self, ws_url: str):
        import websocket  # websocket-client

        self.ws = websocket.create_connection(ws_url, timeout=PAGE_TIMEOUT, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def close(self):
        self.ws.close()

    def _recv(self, deadline: float) -> dict:
        self.ws.settimeout(max(0.05, deadline - time.monotonic()))
        return json.loads(self.ws.recv())

    def send(self, method: str, params: dict | None = None, timeout: float = PAGE_TIMEOUT) -> dict:
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            msg = self._recv(deadline)
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, timeout: float) -> dict | None:
        for ev in self.events:
            if ev["method"] == method:
                return ev
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self._recv(deadline)
            except Exception:  # websocket timeout
                break
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg
        return None

    def pump(self, seconds: float):
        "Collect events for a while."
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                msg = self._recv(deadline)
            except Exception:
                break
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression: str, timeout: float = PAGE_TIMEOUT):
        r = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                           "returnByValue": True}, timeout=timeout + 5)
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluate failed: {r['exceptionDetails']}")
        return r["result"].get("value")


WAIT_MATHJAX = """
(async () => {
  if (!document.querySelector('script[src*="mathjax"]')) return "no-mathjax";
  const t0 = Date.now();
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    if (Date.now() - t0 > %d) return "mathjax-not-loaded";
    await new Promise(r => setTimeout(r, 50));
  }
  await MathJax.startup.promise;
  if (document.fonts && document.fonts.ready) await document.fonts.ready;
  return "typeset";
})()
"""

VISIBLE_PROSE = """
(() => {
  const skip = 'pre, code, kbd, samp, script, style, noscript, textarea, mjx-container, .highlight';
  const parts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let n;
  while ((n = walker.nextNode())) {
    const el = n.parentElement;
    if (!el || el.closest(skip)) continue;
    if (el.checkVisibility && !el.checkVisibility()) continue;
    parts.push(n.nodeValue);
  }
  return parts.join(' ');
})()
"""

PAGE_FACTS = """
(() => ({
  body: document.body ? document.body.innerText : "",
  main: ((document.querySelector('article') || document.querySelector('main') || document.body).innerText || ""),
  mjx: document.querySelectorAll('mjx-container').length,
  merror: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent).slice(0, 5),
  mathSpans: document.querySelectorAll('.math').length,
  plotlyDivs: document.querySelectorAll('.diffedu-plotly').length,
  plotlyDrawn: Array.from(document.querySelectorAll('.diffedu-plotly')).filter(d => d.querySelector('.main-svg')).length,
}))()
"""


def _open_page(port: int, url: str, extra: str | None = None) -> dict:
    "Load url in a fresh tab; return what the page showed (and `extra`, a JS expression's value) and every problem seen on the way."
    req = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(req, timeout=10) as r:
        target = json.load(r)
    cdp = CDP(target["webSocketDebuggerUrl"])
    try:
        for domain in ("Runtime", "Log", "Page", "Network"):
            cdp.send(f"{domain}.enable")
        cdp.events.clear()
        nav = cdp.send("Page.navigate", {"url": url})
        assert not nav.get("errorText"), f"navigation to {url} failed: {nav}"
        assert cdp.wait_event("Page.loadEventFired", PAGE_TIMEOUT), f"{url}: no load event in {PAGE_TIMEOUT} s"
        mathjax = cdp.evaluate(WAIT_MATHJAX % 20000, timeout=25)
        cdp.pump(0.5)  # late console errors, font requests, plotly resize
        facts = cdp.evaluate(PAGE_FACTS)
        facts["prose"] = cdp.evaluate(VISIBLE_PROSE)
        facts["mathjax"] = mathjax
        facts["extra"] = cdp.evaluate(extra) if extra else None
        cdp.pump(0.2)
        events = list(cdp.events)
    finally:
        cdp.close()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/json/close/{target['id']}", timeout=5).close()
        except Exception:
            pass

    problems = []
    for ev in events:
        m, p = ev["method"], ev.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            desc = (d.get("exception") or {}).get("description") or d.get("text")
            problems.append(f"JS exception: {desc} ({d.get('url', '')}:{d.get('lineNumber')})")
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            problems.append(f"console.{p['type']}: {args}")
        elif m == "Log.entryAdded":
            e = p.get("entry", {})
            if e.get("level") == "error" and "favicon" not in (e.get("url", "") + e.get("text", "")):
                problems.append(f"log error: {e.get('text')} {e.get('url', '')}")
        elif m == "Network.requestWillBeSent":
            u = urllib.parse.urlsplit(p.get("request", {}).get("url", ""))
            if u.scheme in ("data", "blob", "about"):
                continue
            if u.scheme not in ("http", "https", "ws", "wss") or (u.hostname or "") not in LOOPBACK:
                problems.append(f"off-loopback request: {p['request']['url'][:200]}")
    facts["problems"] = problems
    return facts


def _check_page(facts: dict, url: str, need_math: bool):
    assert not facts["problems"], f"{url}:\n  " + "\n  ".join(facts["problems"])
    assert len(facts["main"].strip()) >= 200, f"{url} looks blank: {facts['main'][:300]!r}"
    assert facts["mathjax"] in ("typeset", "no-mathjax"), f"{url}: MathJax state {facts['mathjax']}"
    leftovers = sorted({m.group(0) for m in TEX_LEFT.finditer(facts["prose"])})
    assert not leftovers, f"{url}: raw TeX visible outside code: {leftovers[:10]}"
    assert not facts["merror"], f"{url}: MathJax errors: {facts['merror']}"
    if facts["mathSpans"]:
        assert facts["mjx"] > 0, f"{url}: {facts['mathSpans']} math elements but none typeset"
    if need_math:
        assert facts["mjx"] > 0, f"{url}: no typeset maths (no mjx-container)"
    assert facts["plotlyDrawn"] == facts["plotlyDivs"], (
        f"{url}: {facts['plotlyDivs']} plotly figures but only {facts['plotlyDrawn']} drawn")


# ----------------------------------------------------------------------------------------------
# tests
# ----------------------------------------------------------------------------------------------
def test_site_pages_and_no_remote_assets(site):
    "Every course notebook and every public module has a page; no page references a remote script/style."
    for nb in [*_course_notebooks(), ROOT / "nbs" / "start_here.ipynb", *(ROOT / "nbs" / "papers").glob("*.ipynb"),
               *(ROOT / "nbs" / "lib").glob("*.ipynb")]:
        page = site / nb.relative_to(ROOT).with_suffix(".html")
        assert page.exists(), f"no page for {nb.relative_to(ROOT)}"
    bd = _load_build_docs()
    for mod in bd.discover_modules(ROOT):
        page = site / "api" / f"{mod.split('.', 1)[1]}.html"
        assert page.exists(), f"no API page for {mod}"
    assert (site / "_static" / "mathjax" / "tex-chtml.js").exists()
    remote = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)
    bad = [str(p.relative_to(site)) for p in site.rglob("*.html") if remote.search(p.read_text(errors="replace"))]
    assert not bad, f"pages that load remote assets: {bad}"


def test_api_documents_all_exports(site):
    "Each name in a module's __all__ appears as a documented object on its API page."
    bd = _load_build_docs()
    sys.path.insert(0, str(ROOT))
    try:
        for mod in bd.discover_modules(ROOT):
            m = importlib.import_module(mod)
            page = (site / "api" / f"{mod.split('.', 1)[1]}.html").read_text()
            missing = [n for n in getattr(m, "__all__", []) if f'id="{mod}.{n}"' not in page]
            assert not missing, f"{mod}: __all__ names without docs: {missing}"
    finally:
        sys.path.remove(str(ROOT))


def test_home_page_renders(server, browser):
    url = f"{server}/index.html"
    _check_page(_open_page(browser, url), url, need_math=False)


def test_course_page_renders(server, browser):
    "The first nbs/0*.ipynb page renders; maths renders on it, or on the first course page that has maths."
    course = _course_notebooks()
    first = next((p for p in course if p.name.startswith("0")), None)
    if first is None:
        pytest.fail(f"no nbs/0*.ipynb notebook under {ROOT}")
    pages = [first]
    if not _has_maths(first):
        pages += [p for p in course if _has_maths(p)][:1]
    for nb in pages:
        url = f"{server}/nbs/{nb.stem}.html"
        _check_page(_open_page(browser, url), url, need_math=_has_maths(nb))


def test_readme_in_sync():
    index = ROOT / "index.ipynb"
    assert index.exists(), f"{index} is missing"
    readme = ROOT / "README.md"
    assert readme.exists(), "README.md is missing: run `make readme`"
    expected = _load_build_docs().render_readme(index)
    assert readme.read_text(encoding="utf-8") == expected, (
        "README.md is out of sync with index.ipynb: run `make readme` (tools/build_docs.py --readme-only)")


TABLES = """
(() => Array.from(document.querySelectorAll('table')).map(t => ({
  head: Array.from(t.querySelectorAll('thead th')).map(th => th.innerText.trim()),
  rows: Array.from(t.querySelectorAll('tbody tr')).map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim())),
})))()
"""


def test_scoreboard_page(site, server, browser):
    "SCOREBOARD.md is a page of the site, linked from the home page's navigation; its table shows every paper's claims with a verdict each."
    if not (ROOT / "SCOREBOARD.md").exists():
        pytest.skip(f"{ROOT} has no SCOREBOARD.md (make scoreboard)")
    assert 'href="SCOREBOARD.html"' in (site / "index.html").read_text(), "the home page's navigation does not link the scoreboard"
    url = f"{server}/SCOREBOARD.html"
    facts = _open_page(browser, url, extra=TABLES)
    _check_page(facts, url, need_math=False)
    claims = [t for t in facts["extra"] if t["head"][:2] == ["id", "verdict"]]  # the verdict second: seen without scrolling
    assert len(claims) == 1, f"{url}: no claims table (id, verdict, …) among {[t['head'] for t in facts['extra']]}"
    rows = claims[0]["rows"]
    papers = {row[0].split(".")[0] for row in rows}
    assert {"diffaug", "dac", "proxy", "ambient"} <= papers, f"{url}: papers with claims: {sorted(papers)}"
    verdicts = {"holds exactly", "same direction", "does not reproduce", "not measured yet"}
    bad = [(row[0], row[1]) for row in rows if row[1] not in verdicts]
    assert not bad, f"{url}: verdict cells outside the four verdicts: {bad[:5]}"


SLIDER_STATE = """
(div) => ({active: div.layout.sliders[0].active, steps: div.layout.sliders[0].steps.length,
           data: JSON.stringify(div.data.map(t => [t.x, t.y, t.z].filter(v => v !== undefined)))})
"""


def _slider_pages(site) -> list[str]:
    "Pages whose stored outputs hold a plotly figure with a slider (`slider_figure`), by file name."
    return sorted(p.name for p in (site / "nbs").glob("*.html") if '"sliders":[{' in p.read_text(encoding="utf-8"))


def _course_pages() -> set[str]:
    "The docs pages of the lessons (nbs/NN_topic.ipynb): every one has a slider."
    return {nb.stem + ".html" for nb in _course_notebooks()}


IMAGE_SCALES = """(() => Array.from(document.querySelectorAll('.cell_output img'))
  .filter(i => i.naturalWidth > 0).map(i => [i.getAttribute('src'), i.getBoundingClientRect().width / i.naturalWidth]))()"""
MIN_IMAGE_SCALE = 0.6  # a figure shown at less than this share of its own width has titles and ticks too small to read


def _small_images(scales) -> list[str]:
    "The output figures of a page shown at less than MIN_IMAGE_SCALE of their own width."
    return [f"{src.rsplit('/', 1)[-1]} at {scale:.0%}" for src, scale in scales or [] if scale < MIN_IMAGE_SCALE]


def _drag_first_slider(page, url):
    "Load `url`, drag its first plotly slider to the end away from the active step; (before, after) states and the errors seen."
    errors = []
    page.on("pageerror", lambda e: errors.append(f"JS exception: {e}"))
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)  # the browser asks for one
    page.goto(url, timeout=PAGE_TIMEOUT * 1000)
    page.wait_for_load_state("load", timeout=PAGE_TIMEOUT * 1000)
    errors += [f"figures too small to read: {small}"] if (small := _small_images(page.evaluate(IMAGE_SCALES))) else []
    figure = page.locator(".diffedu-plotly").filter(has=page.locator(".slider-container")).first
    figure.scroll_into_view_if_needed(timeout=PAGE_TIMEOUT * 1000)
    handle = figure.element_handle()
    before = page.evaluate(SLIDER_STATE, handle)
    grip = figure.locator(".slider-grip-rect").first.bounding_box()
    rail = figure.locator(".slider-rail-rect").first.bounding_box()
    to_left = before["active"] >= before["steps"] / 2  # a slider that starts at its last frame is dragged back
    target = rail["x"] + 2 if to_left else rail["x"] + rail["width"] - 2
    page.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
    page.mouse.down()
    page.mouse.move(target, grip["y"] + grip["height"] / 2, steps=12)
    page.mouse.up()
    page.wait_for_function("([div, active]) => div.layout.sliders[0].active !== active", arg=[handle, before["active"]],
                           timeout=PAGE_TIMEOUT * 1000)
    return before, page.evaluate(SLIDER_STATE, handle), errors


def test_docs_sliders_move_their_figures(site, server):
    """On every page with a plotly slider, and every lesson has one, a reader drags the first slider (no
    kernel): the figure shows another precomputed frame, the slider's value changes, the page reports no JavaScript
    error and its figures are shown at a readable scale. Playwright drives Debian's Chromium."""
    pages = _slider_pages(site)
    missing = _course_pages() - set(pages)
    assert not missing, f"course pages without a plotly slider (slider_figure's stored output): {sorted(missing)}"
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent (install Debian's chromium: make system-deps)")
    from playwright.sync_api import sync_playwright
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for name in pages:
                url = f"{server}/nbs/{name}"
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                try:
                    before, after, errors = _drag_first_slider(page, url)
                except Exception as e:  # a page that fails is reported with the others
                    problems.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0]}")
                    continue
                finally:
                    page.close()
                if after["active"] == before["active"]:
                    problems.append(f"{name}: the slider did not move ({before['active']})")
                elif after["data"] == before["data"]:
                    problems.append(f"{name}: the slider moved but the plotted data stayed the same")
                problems += [f"{name}: {e}" for e in errors]
        finally:
            browser.close()
    assert not problems, "\n  ".join(["docs sliders:", *problems])


# ----------------------------------------------------------------------------------------------
# every page a reader can reach: no JavaScript error, no raw table text, no words of the course's development
# ----------------------------------------------------------------------------------------------
RAW_TABLE = re.compile(r"^\s*\|.*\|\s*$\n^\s*\|\s*:?-{3,}", re.M)  # a markdown table header and its rule, as text


def _reader_pages(site) -> list[Path]:
    "Every HTML page but the API reference (the lessons, start and paper pages, the library notebooks, home, scoreboard)."
    return sorted(p for p in site.rglob("*.html")
                  if p.relative_to(site).parts[0] not in ("api", "_static", "_sources") and p.name not in ("genindex.html", "search.html", "py-modindex.html"))


def _prose(html: str) -> str:
    "The text of a page outside code blocks (<pre>) and scripts, one line per line of text."
    html = re.sub(r"(?s)<(script|style|pre)\b.*?</\1>", "\n", html)
    html = re.sub(r"<br\s*/?>|</(p|div|li|tr|h\d)>", "\n", html)
    return html_lib.unescape(re.sub(r"<[^>]+>", "", html))


def test_raw_table_text_is_caught():
    "The raw-table check can fail: a markdown table left as text is found, a rendered one is not."
    assert RAW_TABLE.search(_prose("<p>| a | b |\n|---|---|\n| 1 | 2 |</p>"))
    assert not RAW_TABLE.search(_prose("<table><tr><td>a</td></tr></table><pre>| a |\n|---|</pre>"))


def test_no_raw_tables_or_development_words_in_any_page(site):
    "No page shows a markdown table as text; no page a learner reads names how the course was developed."
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from test_course import development_words
    finally:
        sys.path.remove(str(REPO / "tests"))
    raw, words = [], []
    for page in _reader_pages(site):
        text = _prose(page.read_text(encoding="utf-8"))
        if RAW_TABLE.search(text):
            raw.append(str(page.relative_to(site)))
        rel = page.relative_to(site)
        if rel.parts[0] == "nbs" and rel.parts[1:2] != ("lib",) and (found := development_words(text)):
            words.append(f"{rel}: {found}")
    assert not raw, f"pages showing a markdown table as raw text: {raw}"
    assert not words, "pages with words of the course's development:\n  " + "\n  ".join(words)


def test_every_page_loads_without_javascript_errors(site, server, browser):
    """Each page a reader can reach loads in Chromium (1280 px wide) with no JavaScript error, no remote request, its
    maths typeset, and every output figure shown at no less than 60 % of its own width. The pages with a slider are
    opened, for the same checks, by test_docs_sliders_move_their_figures."""
    failures = []
    with_sliders = {f"nbs/{name}" for name in _slider_pages(site)}
    for page in [p for p in _reader_pages(site) if p.relative_to(site).as_posix() not in with_sliders]:
        url = f"{server}/{page.relative_to(site).as_posix()}"
        facts = _open_page(browser, url, extra=IMAGE_SCALES)
        if facts["problems"]:
            failures.append(f"{url}: {facts['problems'][:3]}")
        elif facts["mathjax"] not in ("typeset", "no-mathjax") or facts["merror"]:
            failures.append(f"{url}: MathJax {facts['mathjax']} {facts['merror']}")
        if small := _small_images(facts["extra"]):
            failures.append(f"{url}: figures too small to read: {small}")
    assert not failures, "\n".join(failures)
