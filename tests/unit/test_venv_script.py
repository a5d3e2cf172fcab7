"""scripts/_venv.sh installs the project only when its metadata changed (#10: serve.sh reinstalled
the package on every start, about 10 s): driven with a fake venv whose python records each call."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

FAKE_PYTHON = """#!/usr/bin/env bash
echo "$@" >> "$(dirname "$0")/../calls"
entry="$(dirname "$0")/policy-admin"
if [ "$1 $2 $3" = "-m pip install" ]; then touch "$entry"; chmod +x "$entry"; fi
"""


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "_venv.sh", root / "scripts" / "_venv.sh")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return root, venv


def _source(root: Path, venv: Path, extras: str, **env: str) -> list[str]:
    before = (venv / "calls").read_text().splitlines() if (venv / "calls").exists() else []
    subprocess.run(
        ["bash", "-c", f'source "{root}/scripts/_venv.sh" "{extras}"'],
        env={"PATH": "/usr/bin:/bin", "POLICY_VENV": str(venv), **env},
        check=True,
        capture_output=True,
    )
    after = (venv / "calls").read_text().splitlines() if (venv / "calls").exists() else []
    return [c for c in after[len(before) :] if "pip install" in c]


def test_installs_once_then_only_when_the_project_metadata_changes(tmp_path: Path) -> None:
    root, venv = _setup(tmp_path)
    assert len(_source(root, venv, "")) == 1  # first start: installed
    assert _source(root, venv, "") == []  # second start: nothing to do
    (root / "policy_core.py").write_text("# a source change: the editable install sees it\n")
    assert _source(root, venv, "") == []
    installed = _source(root, venv, "test")
    assert installed == [f"-m pip install --quiet --disable-pip-version-check -e {root}[test]"]
    assert _source(root, venv, "") == []  # the test extras include the base install
    assert _source(root, venv, "test") == []
    with (root / "pyproject.toml").open("a") as f:
        f.write("\n# a dependency changed\n")
    assert len(_source(root, venv, "")) == 1
    assert _source(root, venv, "") == []


def test_missing_entry_point_or_forced_reinstall_installs_again(tmp_path: Path) -> None:
    root, venv = _setup(tmp_path)
    _source(root, venv, "")
    (venv / "bin" / "policy-admin").unlink()  # e.g. pip uninstall
    assert len(_source(root, venv, "")) == 1
    assert len(_source(root, venv, "", POLICY_REINSTALL="1")) == 1
