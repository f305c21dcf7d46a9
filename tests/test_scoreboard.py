"""The reproduction scoreboard (issue 15): the claims registry nbs/claims.yaml against the committed results.

Every row of a committed `results/<preset>/<notebook>/metrics.json` that carries a `paper` value must be placed by
exactly one claim of its notebook; claim ids are unique and lowercase; every claim names a notebook that exists; and
SCOREBOARD.md is what `make scoreboard` writes from them now. How claims and verdicts work: nbs/lib/scoreboard.ipynb.
"""
import json
import re

import pytest
import yaml

from conftest import ROOT
from diffedu.scoreboard import VERDICTS, ClaimsError, load_claims, scoreboard_markdown, scoreboard_rows

CLAIMS = ROOT / "nbs" / "claims.yaml"
RESULTS = ROOT / "results"


def committed_rows():
    "(preset, notebook, rows) of every committed results/<preset>/<notebook>/metrics.json."
    for path in sorted(RESULTS.glob("*/*/metrics.json")):
        yield path.parent.parent.name, path.parent.name, json.loads(path.read_text(encoding="utf-8"))["rows"]


def unplaced(claims, results) -> list[str]:
    "One line per row with a paper value that matches no claim, or more than one, of its notebook."
    problems = []
    for preset, notebook, rows in results:
        for row in rows:
            if row.get("paper") is None:
                continue
            ids = [c["id"] for c in claims if c["notebook"] == notebook and re.fullmatch(c["match"], row["name"])]
            if len(ids) != 1:
                problems.append(f"{preset}/{notebook}: {row['name']!r} matches {len(ids)} claims {ids}")
    return problems


def test_claim_ids_are_unique_and_lowercase():
    ids = [c.get("id") for c in yaml.safe_load(CLAIMS.read_text(encoding="utf-8"))["claims"]]
    assert len(ids) == len(set(ids)), f"duplicate claim ids: {sorted({i for i in ids if ids.count(i) > 1})}"
    bad = [i for i in ids if not (isinstance(i, str) and re.fullmatch(r"^[a-z0-9][a-z0-9.-]*$", i))]
    assert not bad, f"claim ids must match ^[a-z0-9][a-z0-9.-]*$: {bad}"
    assert len(load_claims(CLAIMS)) == len(ids)  # and every other key of every claim is well formed


def test_every_claim_names_a_notebook():
    missing = sorted({c["notebook"] for c in load_claims(CLAIMS) if not (ROOT / "nbs" / f"{c['notebook']}.ipynb").exists()})
    assert not missing, f"claims name notebooks that nbs/ does not have: {missing}"


def test_every_committed_paper_row_is_placed_by_exactly_one_claim():
    results = list(committed_rows())
    assert results, "no committed results/*/*/metrics.json"
    problems = unplaced(load_claims(CLAIMS), results)
    assert not problems, "rows with a paper value not placed by exactly one claim of nbs/claims.yaml:\n" + "\n".join(problems)


def test_the_placement_test_can_fail():
    claims = load_claims(CLAIMS)
    stray = [("quick", "15_ambient", [dict(name="Thm 9: a theorem nobody registered", kind="metric", value=1.0, paper="≤ 1")])]
    assert unplaced(claims, stray) == ["quick/15_ambient: 'Thm 9: a theorem nobody registered' matches 0 claims []"]
    twice = [dict(c, id=c["id"] + "-copy") for c in claims if c["id"] == "ambient.thm4.2"]
    row = [("quick", "15_ambient", [dict(name="Theorem 4.2: max over all pairs and σ of TV after noise / bound", kind="check",
                                         value=0.5, paper="≤ 1", passed=True)])]
    assert unplaced(claims + twice, row)[0].endswith("matches 2 claims ['ambient.thm4.2', 'ambient.thm4.2-copy']")


def test_scoreboard_md_is_current():
    "Every committed row is judged (a pattern that cannot read a paper text fails here), and SCOREBOARD.md is up to date."
    board = scoreboard_rows(RESULTS, load_claims(CLAIMS))
    assert all(b["verdict"] in (*VERDICTS, None) for b in board)
    assert {b["paper"] for b in board} >= {"diffaug", "dac", "proxy", "ambient"}
    expected = scoreboard_markdown(board)
    assert (ROOT / "SCOREBOARD.md").read_text(encoding="utf-8") == expected, "SCOREBOARD.md is stale: run make scoreboard"


def test_an_unreadable_paper_text_fails(tmp_path):
    folder = tmp_path / "results" / "quick" / "09_certify"
    folder.mkdir(parents=True)
    rows = [dict(name="certified accuracy, best σ: plain + DDS, r = 0", kind="metric", value=95.0, paper="ViT, no number")]
    (folder / "metrics.json").write_text(json.dumps({"rows": rows}))
    with pytest.raises(ClaimsError, match="paper_pattern finds no number in 'ViT, no number'"):
        scoreboard_rows(tmp_path / "results", load_claims(CLAIMS))
