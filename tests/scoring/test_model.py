"""The model module's import: what a worker pays at every start."""
from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import riskengine.scoring.model as m
assert "sklearn" not in sys.modules, "XGBoost pulled scikit-learn into a serving process"
assert m.xgb.Booster and m.xgb.DMatrix
import sklearn.metrics                  # training still imports it afterwards
assert sklearn.metrics.roc_auc_score([0, 1], [0.2, 0.8]) == 1.0
print("ok")
"""


def test_xgboost_is_imported_without_scikit_learn_which_stays_importable():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
