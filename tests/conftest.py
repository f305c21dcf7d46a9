import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture
def diffedu_env(tmp_path):
    "Environment for running the `diffedu` command in a subprocess: offline, quiet."
    env = dict(os.environ, DIFFEDU_OFFLINE="1", DIFFEDU_PROGRESS="0", PYTHONWARNINGS="ignore")
    env.pop("DIFFEDU_RUN_DIR", None)
    env["DIFFEDU_CACHE"] = str(tmp_path / "model-cache")  # trained-model cache: per test, never the checkout's
    return env
