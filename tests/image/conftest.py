"""The image under test: the archive RESETBOT_TEST_IMAGE names (.ci/run builds it once with `./dev image`), or
one this session builds; unpacked once, as root, with the owners and modes its layer says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "deploy" / "image" / "build.sh"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
ARCHIVE_ENV = "RESETBOT_TEST_IMAGE"
MAX_ARCHIVE_BYTES = 120 * 1000 * 1000
UID = 10001
HOME = "/var/lib/resetbot"
VENV = "/opt/resetbot"
DATABASE_URL = f"sqlite:///{HOME}/resetbot.db"  # explicit: the test does not lean on RESETBOT_HOME's default


@dataclass
class Image:
    archive: Path
    index: dict
    manifest: dict
    config: dict
    rootfs: Path
    build_log: str

    @property
    def env(self) -> dict[str, str]:
        return dict(entry.split("=", 1) for entry in self.config["config"]["Env"])

    def layer_digests(self) -> list[str]:
        return [layer["digest"] for layer in self.manifest["layers"]]


def _cannot_build() -> str | None:
    if os.geteuid() != 0:
        return "building the image needs root (mmdebstrap's root mode, files owned by uid 10001)"
    if not (shutil.which("mmdebstrap") and shutil.which("umoci")) and not shutil.which("apt-get"):
        return "building the image needs mmdebstrap and umoci, and there is no apt-get to install them"
    return None


def build(out: Path) -> tuple[Path, str]:
    done = subprocess.run([str(BUILD), "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    return out / f"resetbot-{VERSION}.oci.tar", done.stdout


def _blob(layout: Path, digest: str) -> Path:
    algorithm, value = digest.split(":")
    return layout / "blobs" / algorithm / value


def open_archive(archive: Path, where: Path, build_log: str = "") -> Image:
    layout = where / "oci"
    layout.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="data")
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(_blob(layout, index["manifests"][0]["digest"]).read_text())
    config = json.loads(_blob(layout, manifest["config"]["digest"]).read_text())
    rootfs = where / "rootfs"
    rootfs.mkdir()
    for layer in manifest["layers"]:  # as root: owners, modes and special files as the layer says
        subprocess.run(["tar", "-xzf", str(_blob(layout, layer["digest"])), "-C", str(rootfs), "--numeric-owner",
                        "--same-owner", "--same-permissions"], check=True)
    return Image(archive, index, manifest, config, rootfs, build_log)


@pytest.fixture(scope="session")
def image(tmp_path_factory) -> Image:
    if os.geteuid() != 0:
        pytest.skip("unpacking the image and running it as uid 10001 (chroot) needs root")
    given = os.environ.get(ARCHIVE_ENV)
    if given:
        archive, log = Path(given), ""
    else:
        reason = _cannot_build()
        if reason:
            pytest.skip(reason)
        archive, log = build(tmp_path_factory.mktemp("dist"))
    return open_archive(archive, tmp_path_factory.mktemp("image"), log)


def in_image(image: Image, *args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """The image's entrypoint with `args`, as `podman run` would start it: its user, working directory and
    environment (plus `env`), in its root filesystem; the network is this machine's."""
    config = image.config["config"]
    environment = {**image.env, **(env or {})}
    command = ["chroot", f"--userspec={config['User']}", "--groups=", str(image.rootfs), "/usr/bin/env", "-i",
               "-C", config["WorkingDir"], *(f"{k}={v}" for k, v in environment.items()),
               *config["Entrypoint"], *args]
    return subprocess.Popen(command, text=True, **popen)


def run_in_image(image: Image, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    with in_image(image, *args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
