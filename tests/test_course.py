"""The course reads as a course: every lesson is on a reading path, opens with its problem, ends with what the learner
can now do and the next lesson of each path, speaks of the course alone, and shows outputs its code prints now.

The rendered pages are scanned for the same words by tests/test_docs.py.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
LESSONS = sorted(p for p in NBS.glob("[0-9]*_*.ipynb"))
PAGES = [ROOT / "index.ipynb", NBS / "start_here.ipynb", *sorted((NBS / "papers").glob("*.ipynb"))]


@functools.lru_cache(maxsize=None)
def _read(path: Path):
    "A notebook, read (and validated) once per test process: they are up to 1.5 MB."
    return nbformat.read(path, as_version=4)


PATHS = yaml.safe_load((NBS / "paths.yaml").read_text(encoding="utf-8"))

# Words of how the course was developed, never of the course itself: a learner reads none of them.
DEVELOPMENT_WORDS = re.compile(
    r"\b(issues?|tasks?|lent|acceptance|DESIGN(?:\.md)?|sessions?|paper\s+00\d|GPU was|developers?|CEO|tracker)\b"
    r"|\b00[0134]\s+(?:Table|Fig(?:ure)?|Eq|§|Sec)", re.I)


def _texts(nb) -> list[tuple[str, str]]:
    "(where, text) of everything a reader of the notebook sees: markdown, code and text outputs."
    out = []
    for i, cell in enumerate(nb.cells):
        out.append((f"cell {i} ({cell.cell_type})", cell.source))
        for o in cell.get("outputs", []):
            if "text" in o:
                out.append((f"cell {i} output", "".join(o["text"])))
            for mime, data in o.get("data", {}).items():
                if mime in ("text/plain", "text/markdown", "text/html"):
                    out.append((f"cell {i} output {mime}", "".join(data) if isinstance(data, list) else data))
    return out


def development_words(text: str) -> list[str]:
    return sorted({m.group(0) for m in DEVELOPMENT_WORDS.finditer(text)})


def test_the_wording_check_can_fail():
    "The scan catches what it is there for, and leaves ordinary words alone."
    for bad in ["as the issue asks", "paper 001's Table 2", "no GPU was lent", "see DESIGN.md", "a classification task",
                "(000 Table 4)", "the acceptance test"]:
        assert development_words(bad), bad
    for fine in ["excellent", "equivalent", "the tissue", "multitasking", "DESIGNER", "Table 4 of DiffAug"]:
        assert not development_words(fine), fine


@pytest.mark.parametrize("path", LESSONS + PAGES, ids=lambda p: p.stem)
def test_lessons_speak_of_the_course_alone(path):
    nb = _read(path)
    found = [(where, words) for where, text in _texts(nb) if (words := development_words(text))]
    assert not found, f"{path.name}: words of the course's development: {found[:8]}"


def test_every_lesson_is_on_a_reading_path():
    on_paths = {name for p in PATHS.values() for name in p["lessons"]}
    assert on_paths == {p.stem for p in LESSONS}, (f"lessons on no path: {sorted({p.stem for p in LESSONS} - on_paths)}; "
                                                   f"paths naming no lesson: {sorted(on_paths - {p.stem for p in LESSONS})}")
    for key, p in PATHS.items():
        if p.get("page"):
            assert (NBS / "papers" / f"{p['page']}.ipynb").exists(), f"path {key}: no page nbs/papers/{p['page']}.ipynb"


def next_steps(lesson: str) -> dict[str, str]:
    "path → the link the lesson's ending must hold: the next lesson of that path, or the path's paper page."
    steps = {}
    for key, p in PATHS.items():
        lessons = p["lessons"]
        if lesson not in lessons:
            continue
        i = lessons.index(lesson)
        if i + 1 < len(lessons):
            steps[key] = f"{lessons[i + 1]}.ipynb"
        elif key == "foundations":  # the foundations lead into every paper's path
            for other, q in PATHS.items():
                if other != "foundations":
                    steps[other] = f"{q['lessons'][0]}.ipynb"
        else:
            steps[key] = f"papers/{p['page']}.ipynb"
    return steps


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_opens_with_its_problem_and_ends_with_what_you_can_do(path):
    nb = _read(path)
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    first = md[0]
    assert first.lstrip().startswith("# "), f"{path.name}: the first markdown cell is not the lesson's title"
    opening = "\n".join(md[:2])
    assert re.search(r"\*\*The problem\.?\*\*", opening), f"{path.name}: no '**The problem.**' paragraph opens the lesson"
    last = md[-1]
    assert last.lstrip().startswith("## What you can now do"), f"{path.name}: the last markdown cell is not '## What you can now do'"
    missing = {k: link for k, link in next_steps(path.stem).items() if f"({link})" not in last}
    assert not missing, f"{path.name}: its ending does not link the next step of each reading path: {missing}"


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_stored_outputs_are_current():
    "Every notebook was executed after the last change to its code or to the library modules it imports."
    tool = _load_tool("outputs_digest")
    old = tool.stale(ROOT)
    assert not old, ("stored outputs older than the code that makes them (run `make outputs NB=...` for each): "
                     + ", ".join(old))


def test_the_outputs_check_can_fail(tmp_path):
    "A changed code cell, or a changed library module, makes a notebook's digest differ."
    tool = _load_tool("outputs_digest")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from diffedu.schedules import linear_betas\nx = 1")])
    (tmp_path / "nbs").mkdir()
    (tmp_path / "diffedu").mkdir()
    (tmp_path / "diffedu" / "schedules.py").write_text("A = 1\n")
    path = tmp_path / "nbs" / "01_x.ipynb"
    nbformat.write(nb, path)
    first = tool.digest(path, tmp_path)
    (tmp_path / "diffedu" / "schedules.py").write_text("A = 2\n")
    second = tool.digest(path, tmp_path)
    nb.cells[0].source += "\ny = 2"
    nbformat.write(nb, path)
    assert len({first, second, tool.digest(path, tmp_path)}) == 3


@pytest.mark.parametrize("path", LESSONS + PAGES, ids=lambda p: p.stem)
def test_no_failed_or_stray_outputs(path):
    "No stored error, and no bare True/False or list repr left by a check."
    nb = _read(path)
    errors = [i for i, c in enumerate(nb.cells) for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: stored errors in cells {errors}"
    stray = [i for i, c in enumerate(nb.cells) for o in c.get("outputs", []) if o.get("output_type") == "execute_result"
             and "".join(o.get("data", {}).get("text/plain", "")).strip() in ("True", "False", "None")]
    assert not stray, f"{path.name}: cells {stray} end in a bare True/False: end them with an assignment or `;`"
