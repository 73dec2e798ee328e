"""The OCI image `./dev image` builds: the contract's config, small, reproducible, and the bot in it, run as
uid 10001 from the unpacked layer, serving request → approve → reveal against the simulated Slack on loopback.

Building and running need root (mmdebstrap, files owned by 10001, chroot) and Debian's mmdebstrap and umoci,
which the build installs with apt-get: without them the tests are skipped, saying why (tests/image/conftest.py).
The chrooted bot shares this machine's network, so it reaches the simulated Slack and sandbox on 127.0.0.1.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER, REASON, _world
from tests.image.conftest import (
    DATABASE_URL,
    HOME,
    MAX_ARCHIVE_BYTES,
    ROOT,
    UID,
    VENV,
    VERSION,
    _blob,
    _cannot_build,
    build,
    in_image,
    run_in_image,
)

pytestmark = pytest.mark.image


def test_the_archive_is_named_small_and_one_image_of_one_layer(image):
    assert image.archive.name == f"resetbot-{VERSION}.oci.tar"
    size = image.archive.stat().st_size
    assert size <= MAX_ARCHIVE_BYTES, f"{size / 1e6:.1f} MB"
    (entry,) = image.index["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == f"resetbot:{VERSION}"
    assert len(image.manifest["layers"]) == 1
    assert image.config["os"] == "linux" and image.config["rootfs"]["type"] == "layers"


def test_the_config_is_the_contracts(image):
    config = image.config["config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == [f"{VENV}/bin/resetbot"] and config["Cmd"] == ["run"]
    assert config["WorkingDir"] == HOME
    env = image.env
    assert env["RESETBOT_HOME"] == HOME and env["RESETBOT_HEALTH_HOST"] == "0.0.0.0"
    assert env["PATH"].split(":")[0] == f"{VENV}/bin"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "resetbot"
    assert labels["org.opencontainers.image.version"] == VERSION
    assert len(labels["org.opencontainers.image.revision"].split("-")[0]) == 40
    assert labels["org.opencontainers.image.created"] == image.config["created"]
    assert [h["created"] for h in image.config.get("history", [])] in ([], [image.config["created"]])


def test_the_root_filesystem_is_bookworm_python_3_11_with_the_locked_runtime_and_postgres_extra(image):
    root = image.rootfs
    assert 'VERSION_CODENAME=bookworm' in (root / "etc/os-release").read_text()
    assert (root / "usr/bin/python3.11").exists()
    assert f"resetbot:x:{UID}:{UID}:" in (root / "etc/passwd").read_text()
    home = (root / HOME.lstrip("/")).stat()
    assert (home.st_uid, home.st_gid, oct(home.st_mode & 0o777)) == (UID, UID, "0o700")
    site = root / VENV.lstrip("/") / "lib/python3.11/site-packages"
    installed = {p.name.removesuffix(".dist-info").rsplit("-", 1)[0].lower().replace("_", "-"):
                 p.name.removesuffix(".dist-info").rsplit("-", 1)[1] for p in site.glob("*.dist-info")}
    locked = {}
    for line in (ROOT / "requirements/runtime.lock").read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")) and "win32" not in line:
            name, _, rest = line.partition("==")
            locked[name.lower()] = rest.split()[0]
    assert installed == {**locked, "resetbot": VERSION}  # exactly the lock: no pip, no devkit's websockets
    assert not (root / VENV.lstrip("/") / "bin/pip").exists()
    assert {p.name for p in (root / "usr/share/doc").rglob("*") if not p.is_dir()} == {"copyright"}
    packages = {line.split()[1] for line in (root / "var/lib/dpkg/status").read_text().splitlines()
                if line.startswith("Package: ")}
    assert "python3.11" in packages and "ca-certificates" in packages
    assert not packages & {"usrmerge", "perl", "python3-pip", "python3-venv"}  # usrmerge would bring all of perl
    assert not list((root / "var/lib/apt/lists").glob("*_Packages"))


def test_a_runtime_install_lists_the_commands_and_refuses_the_dev_kit_in_one_line(image):
    version = run_in_image(image, "--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"resetbot {VERSION}"), version.stderr
    listed = run_in_image(image, "--help")
    assert listed.returncode == 0 and "run" in listed.stdout and "demo" in listed.stdout and listed.stderr == ""
    demo = run_in_image(image, "demo")
    assert demo.returncode == 2 and demo.stdout == ""
    assert demo.stderr == ("resetbot: demo is part of the dev kit, whose websockets is not installed: "
                           "pip install 'resetbot[devkit]'\n")


def test_the_bot_in_the_image_runs_as_10001_and_serves_request_approve_reveal(image):
    sim, sandbox = _world()
    env = {"SLACK_BOT_TOKEN": "xoxb-image", "SLACK_APP_TOKEN": "xapp-image", "SLACK_API_URL": sim.api_url,
           "DATABASE_URL": DATABASE_URL, "RESETBOT_APPROVALS_CHANNEL": APPROVALS, "RESETBOT_ADMINS": APPROVER,
           "MOFH_API_URL": sandbox.mofh_url, "MOFH_API_USERNAME": "sandbox-reseller",
           "MOFH_API_PASSWORD": "sandbox-mofh-password"}
    bot = None
    try:
        granted = run_in_image(image, "roles", "grant", ENGINEER, "requester", env=env)
        assert granted.returncode == 0, granted.stderr
        bot = in_image(image, "run", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        lines: list[str] = []
        ready = threading.Event()

        def pump():
            for line in bot.stderr:
                lines.append(line)
                if "ready" in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        assert ready.wait(60), "".join(lines)
        status = Path(f"/proc/{bot.pid}/status").read_text()
        assert f"Uid:\t{UID}\t{UID}\t{UID}\t{UID}" in status and f"Gid:\t{UID}\t{UID}\t{UID}\t{UID}" in status
        sim.wait_for_connections(1, timeout=10)
        before = sandbox.mofh_account("webq7k2m").password
        sim.opened_by(ENGINEER, lambda: sim.slash_command(ENGINEER, "/reset-password", "mofh webq7k2m"))
        sim.fill(ENGINEER, {"Reason": REASON})
        assert sim.submit(ENGINEER).ok
        card = sim.wait_for(lambda: next((m for m in sim.messages(APPROVALS) if "Approve" in m.buttons), None),
                            timeout=10, message="no card")
        sim.click(APPROVER, "Approve", channel=APPROVALS, message_ts=card.ts)
        sim.wait_for(lambda: any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)), timeout=15,
                     message="no reveal DM")
        new_password = sandbox.mofh_account("webq7k2m").password
        assert new_password != before
        sim.click(ENGINEER, "Reveal password", in_dm=True)
        modal = sim.wait_for(lambda: next((v for v in sim.views(ENGINEER) if v.title == "New password"), None),
                             message="no reveal modal")
        assert new_password in modal.visible_text
        database = image.rootfs / HOME.lstrip("/") / "resetbot.db"
        assert (database.stat().st_uid, oct(database.stat().st_mode & 0o777)) == (UID, "0o600")
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(30) == 0, "".join(lines)
        assert "Traceback" not in "".join(lines)
    finally:
        if bot is not None and bot.poll() is None:
            bot.kill()
        sim.stop()
        sandbox.stop()


def test_the_same_tree_builds_the_same_layer(image, tmp_path):
    reason = _cannot_build()
    if reason:
        pytest.skip(reason)
    again, _ = build(tmp_path)
    with tarfile.open(again) as tar:
        tar.extractall(tmp_path / "oci", filter="data")
    index = json.loads((tmp_path / "oci" / "index.json").read_text())
    manifest = json.loads(_blob(tmp_path / "oci", index["manifests"][0]["digest"]).read_text())
    assert [layer["digest"] for layer in manifest["layers"]] == image.layer_digests()
    assert again.read_bytes() == image.archive.read_bytes()  # config, labels, dates: the whole archive
