#!/usr/bin/env python
"""Are the notebooks' stored outputs current? A digest per notebook, written when its outputs are made.

The docs site shows the outputs stored in the notebooks, so they must be what the code prints now. Re-executing
every notebook in a test would take the whole course's run time; instead, when `make outputs` executes a notebook,
this script records a digest of what decides its outputs: the source of its code cells and of every `diffedu`
module it imports (data, seeds and pinned packages being fixed). `--check` (and tests/test_course.py) fails for a
notebook whose code or library changed since: its outputs may be stale and it must be executed again. It cannot
see a change in a third-party package or a nondeterministic output; it sees every edit to the course's own code.

Usage (from the repository root, with the project's virtualenv):

    .venv/bin/python tools/outputs_digest.py --write nbs/01_schedules.ipynb ...   # after executing them
    .venv/bin/python tools/outputs_digest.py --check                             # every notebook, exit 1 if stale
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "nbs" / "outputs.lock.json"
_IMPORT = re.compile(r"^\s*(?:from\s+diffedu\.(\w+)\s+import|import\s+diffedu\.(\w+))", re.M)


def notebooks(root: Path = REPO) -> list[Path]:
    "Every notebook whose stored outputs the docs show: the home page, the lessons, the start and paper pages, the library."
    nbs = root / "nbs"
    found = [root / "index.ipynb", *sorted(nbs.glob("[0-9]*.ipynb")), nbs / "start_here.ipynb",
             *sorted((nbs / "papers").glob("*.ipynb")), *sorted((nbs / "lib").glob("*.ipynb"))]
    return [p for p in found if p.exists() and not p.name.startswith("_")]


def digest(path: Path, root: Path = REPO) -> str:
    "sha256 of the notebook's code cells and of the source of each diffedu module they import."
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    h = hashlib.sha256()
    for source in code:
        h.update(source.encode() + b"\0")
    modules = sorted({a or b for s in code for a, b in _IMPORT.findall(s)})
    for mod in modules:
        file = root / "diffedu" / f"{mod}.py"
        h.update(mod.encode() + b"\0" + (file.read_bytes() if file.exists() else b"missing") + b"\0")
    return h.hexdigest()


def _key(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


def read_lock(root: Path = REPO) -> dict[str, str]:
    lock = root / "nbs" / LOCK.name
    return json.loads(lock.read_text(encoding="utf-8")) if lock.exists() else {}


def stale(root: Path = REPO) -> list[str]:
    "Notebooks whose code or library changed since their outputs were recorded (or that were never recorded)."
    lock = read_lock(root)
    return [_key(p, root) for p in notebooks(root) if lock.get(_key(p, root)) != digest(p, root)]


def write(paths: list[Path], root: Path = REPO) -> None:
    lock = read_lock(root)
    for p in paths:
        lock[_key(p, root)] = digest(p, root)
    known = {_key(p, root) for p in notebooks(root)}
    lock = {k: v for k, v in sorted(lock.items()) if k in known}
    (root / "nbs" / LOCK.name).write_text(json.dumps(lock, indent=1) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", nargs="+", type=Path, metavar="NOTEBOOK", help="record these notebooks' digests (after executing them)")
    ap.add_argument("--check", action="store_true", help="list the notebooks whose outputs may be stale; exit 1 if any")
    args = ap.parse_args(argv)
    if args.write:
        write([p.resolve() for p in args.write])
    if args.check:
        old = stale()
        for name in old:
            print(f"{name}: its code or a diffedu module it imports changed since its outputs were made: make outputs NB={name}")
        return 1 if old else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
