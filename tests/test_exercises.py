"""Every exercise of the course is proved both ways, without executing the notebooks.

For each exercise (an `exercise` markdown cell, its `solution` cell, its `check_exercise` cell; see
nbs/lib/exercises.ipynb) the notebook's import cells run once, then:
- the solution and the check: the check must print `✓ <title>: right.`;
- the student stub (`diffedu.exercises.stub_source`) and the same check: the check must raise `ExerciseFailed`
  with `✗ <title>: not written yet — Hint: ...`.
Every lesson notebook has at least two exercises, and `diffedu exercises` writes copies that hold no solution.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import io
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from diffedu.exercises import exercises, solution_hint, stub_source

ROOT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=None)
def _read(path: Path):
    "A notebook, read (and validated) once per test process: they are up to 1.5 MB."
    return nbformat.read(path, as_version=4)

LESSONS = sorted(p for p in (ROOT / "nbs").glob("[0-9]*_*.ipynb"))
MIN_EXERCISES = 2


def _is_import_cell(source: str) -> bool:
    "A code cell made of imports only (nbdev directives and comments aside): the set-up an exercise may rely on."
    lines = [l for l in source.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    if not lines:
        return False
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return False
    return all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body)


def _cases():
    for path in LESSONS:
        nb = _read(path)
        for ex in exercises(nb):
            yield pytest.param(path, ex, id=f"{path.stem}: {ex['title']}")


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_every_lesson_has_exercises(path):
    found = exercises(_read(path))
    assert len(found) >= MIN_EXERCISES, f"{path.name}: {len(found)} exercise(s), at least {MIN_EXERCISES} asked"
    assert len({e["title"] for e in found}) == len(found), f"{path.name}: two exercises share a title"


def _namespace(path: Path) -> dict:
    "A fresh namespace holding what the notebook's import cells define."
    nb = _read(path)
    ns: dict = {"__name__": "__exercise__"}
    for cell in nb.cells:
        if cell.cell_type == "code" and _is_import_cell(cell.source):
            exec(compile(cell.source, f"{path.name}:imports", "exec"), ns)
    return ns


def _run_check(ns: dict, source: str, where: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, where, "exec"), ns)
    return out.getvalue()


@pytest.mark.parametrize("path, ex", list(_cases()))
def test_exercise_solution_passes_and_stub_fails(path, ex):
    nb = _read(path)
    solution, check = nb.cells[ex["solution"]].source, nb.cells[ex["check"]].source
    title = ex["title"]
    assert "# Hint:" in solution, f"{title}: the solution cell needs a `# Hint: ...` line for the student copy"

    ns = _namespace(path)
    exec(compile(solution, f"{path.name}:solution", "exec"), ns)
    printed = _run_check(ns, check, f"{path.name}:check")
    assert f"✓ {title}: right." in printed, f"{title}: with the solution the check printed {printed!r}"

    ns = _namespace(path)
    exec(compile(stub_source(solution), f"{path.name}:stub", "exec"), ns)
    # by name: another test of the same worker may have imported diffedu afresh (tools/build_docs.py does), and the
    # notebook's check_exercise then raises that module's ExerciseFailed, an AssertionError all the same
    with pytest.raises(AssertionError) as err:
        _run_check(ns, check, f"{path.name}:check")
    assert type(err.value).__name__ == "ExerciseFailed", repr(err.value)
    assert str(err.value) == f"✗ {title}: not written yet — {solution_hint(solution)}", str(err.value)


def test_student_copies_hold_no_solution(tmp_path):
    "`diffedu exercises` writes one copy per lesson with exercises; no line of a solution's body survives in it."
    out = tmp_path / "exercises"
    res = subprocess.run([sys.executable, "-m", "diffedu", "exercises", "--out", str(out)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert sorted(p.name for p in out.glob("*.ipynb")) == [p.name for p in LESSONS if exercises(_read(p))]
    for copy_path in out.glob("*.ipynb"):
        original = _read(ROOT / "nbs" / copy_path.name)
        copy_ = nbformat.read(copy_path, as_version=4)
        for ex in exercises(original):
            body = ast.parse(original.cells[ex["solution"]].source).body
            # the stub's own code (its hint, inside the NotImplementedError, may name a step of the answer)
            stub = "\n".join(l for l in copy_.cells[ex["solution"]].source.splitlines() if "NotImplementedError(" not in l)
            for f in body:
                statements = [s for s in f.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
                for s in statements:
                    line = ast.get_source_segment(original.cells[ex["solution"]].source, s).splitlines()[0].strip()
                    assert line not in stub, f"{copy_path.name} {ex['title']}: {line!r} left in"
            assert not copy_.cells[ex["check"]].outputs


def test_exercises_refuses_the_course_folder():
    res = subprocess.run([sys.executable, "-m", "diffedu", "exercises", "--out", str(ROOT / "nbs")], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "outside the course folder" in res.stderr, res.stderr
