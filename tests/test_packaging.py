"""What an installed riskengine reads at run time ships inside the package: every model
directory, the bundled policy, the data files and the migrations. Without them a wheel
install serves every event degraded (no model) or cannot create its schema."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from riskengine.config import PACKAGE_DIR, models_dir
from riskengine.scoring.model import newest_model_dir

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "riskengine"


def _model_dirs() -> list[Path]:
    dirs = sorted(p.parent for p in (SOURCE / "models").glob("*/meta.json"))
    kinds = {json.loads((d / "meta.json").read_text()).get("kind", "assess") for d in dirs}
    assert kinds == {"assess", "active"}, f"shipped model kinds: {sorted(kinds)}"
    return dirs


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Build from a copy of what the build reads: a checkout's stale build/lib (files since
    # deleted from the source) must not make the test pass.
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(SOURCE, src / "riskengine", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("riskengine-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_models_policy_data_and_migrations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"riskengine/policy/default.toml",
                "riskengine/storage/migrations/env.py", "riskengine/storage/migrations/script.py.mako"}
    for d in _model_dirs():
        expected |= {f"riskengine/models/{d.name}/{f}" for f in ("model.json", "meta.json", "MODEL_CARD.md")}
    versions = sorted((SOURCE / "storage" / "migrations" / "versions").glob("*.py"))
    assert versions
    expected |= {f"riskengine/storage/migrations/versions/{v.name}" for v in versions}
    expected |= {f"riskengine/data/{f.name}" for f in (SOURCE / "data").iterdir() if f.is_file()}
    for folder in ("web/static/console", "web/console/templates/console"):       # the analyst console
        files = sorted((SOURCE / folder).iterdir())
        assert files
        expected |= {f"riskengine/{folder}/{f.name}" for f in files}
    assert sorted(expected - names) == []


@pytest.mark.slow
def test_the_wheels_own_package_finds_its_models_from_an_empty_directory(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKENGINE_")}
    env["PYTHONPATH"] = str(site)
    probe = ("import json, riskengine, riskengine.config as c, riskengine.scoring.model as m; "
             "print(json.dumps([riskengine.__file__, str(c.models_dir()), "
             "str(m.newest_model_dir(c.models_dir())), str(m.newest_model_dir(c.models_dir(), kind='active'))]))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=empty, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    package, found, assess, active = json.loads(done.stdout)
    assert Path(package).is_relative_to(site)          # the wheel's copy, not the checkout
    assert Path(found) == site / "riskengine" / "models"
    assert (Path(assess) / "model.json").is_file() and Path(assess).is_relative_to(found)
    assert (Path(active) / "model.json").is_file() and Path(active).is_relative_to(found)


def test_models_dir_is_the_packages_own_whatever_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("RISKENGINE_MODELS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)                        # empty: nothing to find here
    assert models_dir() == PACKAGE_DIR / "models"
    assess, active = newest_model_dir(models_dir()), newest_model_dir(models_dir(), kind="active")
    assert assess is not None and (assess / "model.json").is_file()
    assert active is not None and (active / "model.json").is_file()


def test_models_dir_variable_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("RISKENGINE_MODELS_DIR", str(tmp_path))
    assert models_dir() == tmp_path
    assert newest_model_dir(models_dir()) is None      # not the packaged ones behind its back
