"""./dev: a .venv made by a Python the project no longer accepts is recreated, with one line saying so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

OLD_PYTHON = """#!/bin/sh
# Python 3.10 as far as ./dev can tell: it fails the version check and reports 3.10.
for arg in "$@"; do case "$arg" in *sys.exit*) exit 1 ;; esac; done
echo "Python 3.10"
"""

# The Python ./dev is told to use: the real one, except that `-m venv DIR` makes a venv whose python only
# records what it was asked (the installs), so that the test needs no network and takes no time.
NEW_PYTHON = """#!/bin/sh
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/sh\\necho "$*" >> "%s/calls"\\n' "$(pwd)" > "$3/bin/python"
  chmod +x "$3/bin/python"
  exit 0
fi
exec {real} "$@"
"""


def _script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "requirements").mkdir(parents=True)
    shutil.copy(ROOT / "dev", project / "dev")
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    (project / "requirements" / "test.lock").write_text("")
    return project


def _dev(project: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    python = tmp_path / "python3"
    _script(python, NEW_PYTHON.format(real=sys.executable))
    env = {**os.environ, "PYTHON": str(python)}
    return subprocess.run(["bash", str(project / "dev")], env=env, capture_output=True, text=True, timeout=60)


def test_a_venv_of_an_older_python_is_recreated_with_one_line_saying_so(tmp_path):
    project = _project(tmp_path)
    (project / ".venv" / "bin").mkdir(parents=True)
    _script(project / ".venv" / "bin" / "python", OLD_PYTHON)
    done = _dev(project, tmp_path)
    version = f"Python {sys.version_info[0]}.{sys.version_info[1]}"
    assert done.stderr.splitlines()[0] == (f"dev: .venv was made by Python 3.10; this project needs 3.11+: "
                                           f"recreating it with {version}")
    assert "Python 3.10" not in (project / ".venv" / "bin" / "python").read_text()
    calls = (project / "calls").read_text().splitlines()
    assert calls[1] == "-m pip install --quiet --require-hashes -r requirements/test.lock"
    assert calls[2] == "-m pip install --quiet --no-deps -e ."
    assert done.returncode == 2 and "usage: ./dev" in done.stderr  # no task given


def test_a_venv_whose_python_no_longer_runs_is_recreated_too(tmp_path):
    project = _project(tmp_path)
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").symlink_to(tmp_path / "uninstalled-python3.10")
    done = _dev(project, tmp_path)
    assert done.stderr.startswith("dev: .venv was made by a Python that no longer runs; this project needs 3.11+")
    assert (project / "calls").exists()


def test_a_fitting_venv_is_kept_and_not_reinstalled(tmp_path):
    project = _project(tmp_path)
    assert _dev(project, tmp_path).returncode == 2  # first run: creates and installs
    (project / "calls").unlink()
    done = _dev(project, tmp_path)
    assert not [call for call in (project / "calls").read_text().splitlines() if "pip" in call]  # the check only
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("usage: ./dev")
