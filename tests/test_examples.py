"""The shell pipeline example runs verbatim (train -> eval -> jq/csv)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_pipeline_example(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "EPOCHS": "1", "MODEL": "mlp",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run(["bash", "examples/pipeline.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.startswith("test top1=")
    train = json.loads((tmp_path / "train.json").read_text())
    rows = list(csv.DictReader((tmp_path / "eval.csv").open()))
    assert float(rows[0]["top1"]) == float(train["rows"][0]["top1"])
