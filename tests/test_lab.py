"""The course in JupyterLab, in a real browser (issue 16): a course notebook with `interactive=True` runs in JupyterLab
with the project's kernel, a reader moves its ipywidgets slider, and the figure the kernel redraws changes.

JupyterLab is started on 127.0.0.1 with a token, in a temporary folder holding a copy of nbs/lib/core.ipynb whose
parameters cell says `interactive = True`; Playwright for Python drives Debian's Chromium (no browser download). The
test fails on a JavaScript exception, a console error, or a figure that does not change. It skips only when
/usr/bin/chromium is absent.
"""
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request

from pathlib import Path

import nbformat
import pytest

from conftest import BIN, ROOT

CHROMIUM = "/usr/bin/chromium"
NOTEBOOK = "lib/core.ipynb"
TIMEOUT_MS = 120_000

PLOT_STATE = """() => {
  const plots = document.querySelectorAll('.jp-OutputArea .widget-output .js-plotly-plot');
  if (!plots.length) return null;
  return JSON.stringify(Array.from(plots).map(p => (p.data || []).map(t => [t.x, t.y, t.z].filter(v => v !== undefined))));
}"""

RUN_ALL = """async () => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  return await app.commands.execute('notebook:run-all-cells');
}"""


KERNEL_IDLE = """() => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
  return kernel && kernel.status === 'idle';
}"""
NOTEBOOK_SETTINGS = '{"windowingMode": "none"}'  # every cell rendered in place: nothing moves while the test drags


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_env(tmp_path) -> dict:
    "The environment of a test's JupyterLab: its own config, settings and workspaces (none of the reader's), no progress bars."
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"), DIFFEDU_PROGRESS="0", OMP_NUM_THREADS="1")
    env.pop("DIFFEDU_RUN_DIR", None)
    return env


@contextlib.contextmanager
def running_lab(command, tmp_path, cwd, port, token):
    "Start `command` (a JupyterLab server on 127.0.0.1:`port`), wait until its API answers, yield its URL; stop it after."
    log = open(tmp_path / "lab.log", "wb")
    proc = subprocess.Popen(command, env=lab_env(tmp_path), cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not start (exit {proc.poll()}):\n"
                                + (tmp_path / "lab.log").read_text(errors="replace")[-3000:])
                time.sleep(0.3)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # make and the server it started
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


@pytest.fixture
def lab(tmp_path):
    "JupyterLab on 127.0.0.1 with a token over a folder holding the interactive copy of a course notebook."
    work = tmp_path / "course"
    work.mkdir()
    nb = nbformat.read(ROOT / "nbs" / NOTEBOOK, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert "interactive: bool = False" in params.source
    params.source = params.source.replace("interactive: bool = False", "interactive: bool = True")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []  # what the test sees comes from this run
    (work / NOTEBOOK).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, work / NOTEBOOK)
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(NOTEBOOK_SETTINGS)
    token, port = secrets.token_hex(16), free_port()
    command = [str(BIN / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    with running_lab(command, tmp_path, work, port, token) as base:
        yield base, token


def test_jupyterlab_slider_redraws_the_figure(lab):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent (install Debian's chromium: make system-deps)")
    from playwright.sync_api import sync_playwright
    base, token = lab
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda e: errors.append(f"JS exception: {e}"))
            page.on("console", lambda m: errors.append(f"console.error: {m.text}") if m.type == "error" else None)
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", timeout=TIMEOUT_MS)
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext", timeout=TIMEOUT_MS)
            page.evaluate(RUN_ALL)
            handle = page.locator(".widget-slider .noUi-handle").first
            readout = page.locator(".widget-slider .widget-readout").first
            page.wait_for_function(f"({PLOT_STATE})() !== null", timeout=TIMEOUT_MS)  # the kernel drew the figure
            page.wait_for_function(KERNEL_IDLE, timeout=TIMEOUT_MS)  # and ran every cell
            before, shown = page.evaluate(PLOT_STATE), readout.inner_text()
            handle.hover(timeout=TIMEOUT_MS)  # scrolled into view and stable: the boxes below are where the slider is
            box = handle.bounding_box()
            track = page.locator(".widget-slider .noUi-target").first.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(track["x"] + track["width"] - 2, box["y"] + box["height"] / 2, steps=12)
            page.mouse.up()
            assert readout.inner_text() != shown, f"the drag did not move the slider (still {shown})"
            page.wait_for_function(f"(before) => {{ const now = ({PLOT_STATE})(); return now !== null && now !== before; }}",
                                   arg=before, timeout=TIMEOUT_MS)
            after = page.evaluate(PLOT_STATE)
            failed = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
        finally:
            browser.close()
    assert after != before
    assert not [t for t in failed if "Traceback" in t or "Error" in t], failed
    assert not errors, "\n".join(errors)


def test_stored_notebooks_are_light_and_hold_no_widget_state():
    "Every stored notebook ≤ 1.5 MB, with no widget state and no embedded plotly.js (a figure is its JSON, drawn by the reader)."
    too_big, widget_state, bundled = [], [], []
    for path in sorted([ROOT / "index.ipynb", *(ROOT / "nbs").glob("*.ipynb")]):
        if path.stat().st_size > 1_500_000:
            too_big.append(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB")
        nb = nbformat.read(path, as_version=4)
        if "widgets" in nb.metadata:
            widget_state.append(path.name)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                html = out.get("data", {}).get("text/html", "")
                if "plotly.js v" in (html if isinstance(html, str) else "".join(html)):
                    bundled.append(path.name)
    assert not too_big, f"notebooks over 1.5 MB: {too_big}"
    assert not widget_state, f"widget state stored in: {widget_state} (clear it: Edit → Clear Outputs, or nbdev_clean)"
    assert not bundled, f"plotly.js embedded in an output of: {sorted(set(bundled))} (use pio.renderers.default = 'plotly_mimetype')"


def test_make_lab_serves_the_course_with_its_kernel_and_extensions(tmp_path):
    "`make lab` (what a reader types) serves the repository, the project's kernel, and working plotly and widget extensions."
    token, port = secrets.token_hex(16), free_port()
    args = f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0 --IdentityProvider.token={token}"
    with running_lab(["make", "--no-print-directory", "lab", f"ARGS={args}"], tmp_path, ROOT, port, token) as base:
        get = lambda path: json.load(urllib.request.urlopen(f"{base}{path}{'&' if '?' in path else '?'}token={token}", timeout=20))
        notebooks = {item["name"] for item in get("/api/contents/nbs?content=1")["content"]}
        assert {"01_schedules.ipynb", "18_port.ipynb"} <= notebooks, sorted(notebooks)
        specs = get("/api/kernelspecs")
        spec = specs["kernelspecs"][specs["default"]]["spec"]
        assert spec["display_name"] == "Python 3 (diffedu)" and Path(spec["argv"][0]).parent == BIN, spec
        extensions = {e["name"]: e for e in get("/lab/api/extensions")}
        for name in ("jupyterlab-plotly", "jupyter-widgets-jupyterlab-manager"):
            assert name in extensions and extensions[name]["enabled"] and extensions[name]["status"] == "ok", (name, sorted(extensions))


@pytest.mark.parametrize("uid", ["0", "1000"])
def test_make_lab_adds_allow_root_only_for_root(tmp_path, uid):
    "As root Jupyter refuses to start without --allow-root; as a user the flag is not added (`id` faked on the PATH)."
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (fake / "id").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}")
    res = subprocess.run(["make", "-n", "lab"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    (command,) = [line for line in res.stdout.splitlines() if "jupyter lab" in line]
    assert ("--allow-root" in command) == (uid == "0"), command
