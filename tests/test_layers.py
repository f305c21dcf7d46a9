"""The import rule of the library's layers: layers point down, papers stand on the core, no paper imports another's,
and no module reaches into another module's private names."""
import ast

import pytest

from conftest import ROOT

# layer of every module of the library, bottom up; a new module must be placed here before it can land
LAYERS = {
    "infrastructure": {"core", "data", "runs", "__main__", "scoreboard", "exercises"},  # __main__: `python -m diffedu`; scoreboard: claims vs results/
    "core": {"schedules", "denoisers", "nets", "training", "sampling", "jacobian"},
    "evaluation": {"metrics", "corruptions", "attacks", "certify"},
    "papers": {"diffaug", "robustness", "guidance", "semisup", "ambient", "ambient_images", "proxy", "port"},
}
PAPERS = {"DiffAug": {"diffaug", "robustness"}, "DA classifiers": {"guidance", "semisup"}, "Ambient Omni": {"ambient", "ambient_images"}, "proxy distributions": {"proxy", "port"}}
RANK = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}
GENERATED = {"__init__", "_modidx"}
LIBRARY = ROOT / "diffedu"


def library_imports(module: str) -> list[tuple[str, list[str]]]:
    "(imported diffedu module, imported names) for each `from .x import ...` / `from diffedu.x import ...` / `import diffedu.x`."
    tree = ast.parse((LIBRARY / f"{module}.py").read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level == 1:
                found.append((name, [a.name for a in node.names]))
            elif name.startswith("diffedu."):
                found.append((name.removeprefix("diffedu."), [a.name for a in node.names]))
            elif name == "diffedu":
                found.extend((a.name, []) for a in node.names)
        elif isinstance(node, ast.Import):
            found.extend((a.name.removeprefix("diffedu."), []) for a in node.names if a.name.startswith("diffedu."))
    return found


MODULES = sorted(p.stem for p in LIBRARY.glob("*.py") if p.stem not in GENERATED)


def test_every_module_has_a_layer():
    assert not set(MODULES) - set(RANK), f"place these modules in a layer of tests/test_layers.py: {sorted(set(MODULES) - set(RANK))}"


@pytest.mark.parametrize("module", MODULES)
def test_imports_point_down_and_stay_public(module):
    paper = next((name for name, modules in PAPERS.items() if module in modules), None)
    for target, names in library_imports(module):
        assert target in RANK, f"{module} imports unknown module diffedu.{target}"
        assert RANK[target] <= RANK[module], f"{module} ({RANK[module]}) imports the higher layer diffedu.{target}"
        if RANK[module] == RANK["diffaug"] and RANK[target] == RANK["diffaug"]:
            assert target in PAPERS[paper], f"{module} ({paper}) imports diffedu.{target}, a module of another paper"
        private = [n for n in names if n.startswith("_")]
        assert not private, f"{module} imports private names {private} from diffedu.{target}"


def test_the_rule_can_fail(tmp_path, monkeypatch):
    "The checker itself: a paper module importing another paper's module and a private name is caught."
    fake = tmp_path / "diffedu"
    fake.mkdir()
    (fake / "ambient.py").write_text("from .diffaug import diffaug\nfrom .corruptions import _jpeg\n")
    monkeypatch.setattr(__import__(__name__), "LIBRARY", fake)
    with pytest.raises(AssertionError, match="another paper"):
        test_imports_point_down_and_stay_public("ambient")
    (fake / "ambient.py").write_text("from .corruptions import _jpeg\n")
    with pytest.raises(AssertionError, match="private names"):
        test_imports_point_down_and_stay_public("ambient")
    (fake / "schedules.py").write_text("from diffedu.metrics import mmd\n")
    with pytest.raises(AssertionError, match="higher layer"):
        test_imports_point_down_and_stay_public("schedules")
