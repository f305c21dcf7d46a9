"The `diffedu` command end to end: bad input, a real papermill run with overrides, failures, reports."
import json
import re
import subprocess

import nbformat
import pytest

from conftest import BIN, ROOT

DIFFEDU = str(BIN / "diffedu")


def run_cli(args, env, cwd):
    return subprocess.run([DIFFEDU, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def make_nb(path, params_src, body_src):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params_src)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_code_cell("from diffedu.core import record, check"), p, nbformat.v4.new_code_cell(body_src)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, path)


BAD_INPUTS = {
    "unknown notebook": (["run", "no_such_notebook"], "unknown notebook 'no_such_notebook'"),
    "unknown parameter": (["run", "01_schedules", "-p", "bogus=1"], "unknown parameter 'bogus'"),
    "wrong type": (["run", "01_schedules", "-p", "seed=abc"], "parameter seed=abc for 01_schedules: expected int"),
    "wrong type (float for int)": (["run", "01_schedules", "-p", "n_points=1.5"], "expected int"),
    "unknown preset": (["run", "01_schedules", "--preset", "huge"], "unknown preset 'huge'"),
    "unknown device": (["run", "01_schedules", "--device", "tpu"], "unknown device 'tpu'"),
    "missing -f file": (["run", "01_schedules", "-f", "/no/such.yaml"], "does not exist"),
    "bad -p syntax": (["run", "01_schedules", "-p", "seed"], "expected name=value"),
    "unknown option": (["run", "--bogus"], "unrecognized arguments: --bogus"),
    "unknown command": (["fly"], "invalid choice"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case, tmp_path, diffedu_env):
    args, expected = BAD_INPUTS[case]
    out = tmp_path / "runs"
    res = run_cli([*args, "--out", str(out)] if args[0] == "run" and "--bogus" not in args else args, diffedu_env, tmp_path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("diffedu: error:") and expected in lines[0], res.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cuda_without_gpu_exits_2(tmp_path, diffedu_env):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    res = run_cli(["run", "01_schedules", "--device", "cuda", "--out", str(tmp_path / "runs")], diffedu_env, tmp_path)
    assert res.returncode == 2 and "no CUDA GPU" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_bad_value_in_params_file_exits_2(tmp_path, diffedu_env):
    f = tmp_path / "p.yaml"
    f.write_text("seed: [1, 2]\n")
    res = run_cli(["run", "01_schedules", "-f", str(f), "--out", str(tmp_path / "runs")], diffedu_env, tmp_path)
    assert res.returncode == 2 and "expected int" in res.stderr
    assert not (tmp_path / "runs").exists()


def test_list_shows_parameters_and_presets(tmp_path, diffedu_env):
    res = run_cli(["list"], diffedu_env, tmp_path)
    assert res.returncode == 0
    assert "01_schedules  (presets: quick, full)" in res.stdout
    assert "    seed: int = 0  # random seed" in res.stdout


def test_every_course_notebook_has_a_valid_full_preset():
    from diffedu.runs import course_notebooks, plan_run
    notebooks = course_notebooks(ROOT / "nbs")
    assert {"01_schedules", "02_denoisers", "18_port"} <= set(notebooks) and not any("/" in n for n in notebooks)
    plan = plan_run(list(notebooks), preset="full", device="cpu", folder=ROOT / "nbs")
    # `plan_run` sets `preset` itself: the full preset files must also set parameters of their own
    assert all(values["preset"] == "full" for values in plan.values())
    thin = [nb.stem for nb, values in plan.items() if len(set(values) - {"preset", "device"}) == 0]
    assert not thin, f"full presets that change nothing: {thin}"


def test_every_medium_preset_is_valid_and_listed():
    "Each `NN_topic.medium.yaml` validates (names, types, ranges), offers `medium` among the notebook's preset choices."
    from diffedu.runs import course_notebooks, notebook_parameters, plan_run
    notebooks = course_notebooks(ROOT / "nbs")
    medium = [name for name, nb in notebooks.items() if (nb.parent / f"{name}.medium.yaml").is_file()]
    assert "14_semisup" in medium
    plan = plan_run(medium, preset="medium", device="cpu", folder=ROOT / "nbs")
    assert all(values["preset"] == "medium" and len(set(values) - {"preset", "device"}) > 0 for values in plan.values())
    for name in medium:
        assert "medium" in notebook_parameters(notebooks[name])["preset"]["constraint"]["text"], name
    assert not (ROOT / "nbs" / "01_schedules.medium.yaml").exists()
    with pytest.raises(Exception, match="no 01_schedules.medium.yaml beside it"):
        plan_run(["01_schedules"], preset="medium", device="cpu", folder=ROOT / "nbs")


def test_papermill_reads_every_parameters_cell(caplog):
    "papermill parses each line of every course notebook's parameters cell (an apostrophe in a comment defeats it)."
    import logging

    import papermill
    from diffedu.runs import course_notebooks
    with caplog.at_level(logging.WARNING, logger="papermill"):
        for nb in course_notebooks(ROOT / "nbs").values():
            papermill.inspect_notebook(str(nb))
    unparsed = [r.getMessage() for r in caplog.records if "Unable to parse" in r.getMessage()]
    assert not unparsed, unparsed


def test_real_papermill_run_with_overrides(tmp_path, diffedu_env):
    "01_schedules through papermill with -p overrides: outputs, metrics and both reports; a second run gets a new folder."
    out = tmp_path / "runs"
    params = tmp_path / "p.yaml"
    params.write_text("n_points: 300\n")
    res = run_cli(["run", "01_schedules", "-f", str(params), "-p", "seed=3", "--out", str(out), "--no-progress"], diffedu_env, tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    (run_dir,) = out.iterdir()
    summary = json.loads((run_dir / "run.json").read_text())
    entry = summary["notebooks"]["01_schedules"]
    assert entry["status"] == "ok" and entry["parameters"]["seed"] == 3 and entry["parameters"]["n_points"] == 300
    executed = nbformat.read(run_dir / "01_schedules.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "seed = 3" in injected[0].source and "n_points = 300" in injected[0].source
    rows = json.loads((run_dir / "01_schedules" / "metrics.json").read_text())["rows"]
    assert any(r["kind"] == "check" and r["passed"] for r in rows)
    assert (run_dir / "01_schedules" / "figures" / "schedules.png").is_file()
    md = (run_dir / "report.md").read_text()
    assert "| 01_schedules | ok |" in md and "DDS t*" in md
    assert "<table>" in (run_dir / "report.html").read_text()
    # regenerate the report from the folder alone
    (run_dir / "report.md").unlink()
    assert run_cli(["report", str(run_dir)], diffedu_env, tmp_path).returncode == 0 and (run_dir / "report.md").is_file()


def test_failing_notebook_is_reported_and_others_still_run(tmp_path, diffedu_env):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    make_nb(nbs / "00_bad.ipynb", "preset: str = 'quick'\ndevice: str = 'auto'",
            "record('before the failure', 1.5)\nraise ValueError('broken on purpose')")
    make_nb(nbs / "01_good.ipynb", "preset: str = 'quick'\ndevice: str = 'auto'\nn: int = 2",
            "check('n is positive', n, at_least=1)")
    env = dict(diffedu_env, DIFFEDU_NBS=str(nbs))
    out = tmp_path / "runs"
    res = run_cli(["run", "--out", str(out), "--no-progress"], env, tmp_path)
    assert res.returncode == 1
    assert re.search(r"00_bad failed: cell \d+: ValueError: broken on purpose", res.stderr), res.stderr
    (run_dir,) = out.iterdir()
    md = (run_dir / "report.md").read_text()
    assert "| 00_bad | **FAILED** |" in md and "ValueError: broken on purpose" in md
    assert "| 01_good | ok |" in md and "| 00_bad | before the failure | 1.5 |" in md
    # --fail-fast skips the rest; the new run gets its own folder
    res = run_cli(["run", "--out", str(out), "--no-progress", "--fail-fast"], env, tmp_path)
    assert res.returncode == 1 and len(list(out.iterdir())) == 2
    newest = sorted(out.iterdir())[-1]
    assert json.loads((newest / "run.json").read_text())["notebooks"]["01_good"]["status"] == "skipped"


def test_committed_results_match_their_presets():
    "Each results/<preset>/<notebook>/ came from a finished run of the preset as it stands now (else: `make results`)."
    from diffedu.runs import plan_run
    runs = sorted((ROOT / "results").glob("*/*/run.json"))
    assert any(p.parent.name == "14_semisup" and p.parent.parent.name == "medium" for p in runs)
    for path in runs:
        preset, name = path.parent.parent.name, path.parent.name
        summary = json.loads(path.read_text())
        entry = summary["notebooks"][name]
        assert summary["preset"] == preset and summary.get("finished") and entry["status"] == "ok", path
        # a one-notebook run keeps its report beside the metrics; a run of many keeps one report in results/<preset>/
        kept = {p.name for p in path.parent.iterdir()} | {p.name for p in path.parent.parent.glob("report.*")}
        assert {"metrics.json", "report.md", "report.html"} <= kept, path
        planned = plan_run([name], preset=preset, device=summary["device"], folder=ROOT / "nbs")
        now = next(iter(planned.values()))
        assert entry["parameters"] == now, f"{path.parent} is stale: its parameters differ from nbs/{name}.{preset}.yaml; run make results"
