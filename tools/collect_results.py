"""Copy a finished `diffedu run` folder's reports into `results/<preset>/<notebook>/` (issue 15's committed results).

Usage: python tools/collect_results.py RUN_DIR [RUN_DIR ...]

For each notebook of the run that ended ok: its `metrics.json` and figures, and the run's `report.md` / `report.html` and
`run.json` (parameters, device, wall time). A run of several notebooks (`make results PRESET=quick`) puts its report once
in `results/<preset>/` and, beside each notebook's metrics, that notebook's part of `run.json`. Nothing under results/ is edited by hand; rerun `make results` instead.
"""
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def collect(run_dir: Path) -> list[Path]:
    summary = json.loads((run_dir / "run.json").read_text())
    if not summary.get("finished"):
        raise SystemExit(f"{run_dir}: the run did not finish; nothing collected")
    written = []
    for name, entry in summary["notebooks"].items():
        if entry["status"] != "ok":
            print(f"{name}: {entry['status']}, not collected", file=sys.stderr)
            continue
        dest = ROOT / "results" / summary["preset"] / name
        if dest.exists():
            shutil.rmtree(dest)
        if not (run_dir / name).is_dir() or not any((run_dir / name).iterdir()):  # it recorded nothing and saved no figure (lib/scoreboard): nothing to keep
            print(f"{name}: recorded nothing, not collected", file=sys.stderr)
            continue
        shutil.copytree(run_dir / name, dest)  # metrics.json and figures/
        if len(summary["notebooks"]) == 1:
            for f in ("report.md", "report.html", "run.json"):
                shutil.copy2(run_dir / f, dest / f)
        else:  # one run of many notebooks: its report once, in results/<preset>/; here the notebook's own part of run.json
            own = {k: v for k, v in summary.items() if k != "notebooks"} | {"notebooks": {name: entry}}
            (dest / "run.json").write_text(json.dumps(own, indent=1))
        written.append(dest)
    if len(summary["notebooks"]) > 1 and written:
        for f in ("report.md", "report.html", "run.json"):
            shutil.copy2(run_dir / f, ROOT / "results" / summary["preset"] / f)
    return written


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for arg in sys.argv[1:]:
        for dest in collect(Path(arg)):
            print(f"wrote {dest.relative_to(ROOT)}")
