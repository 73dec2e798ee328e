"""The Containerfile describes the image `./dev image` builds: same base, same install step, same config.

No machine here has a container daemon, so it is read, not built: its instructions are compared with
deploy/image/build.sh's inputs and, where the image could be built, with the built image's config.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest

from tests.image.conftest import ROOT, VERSION

CONTAINERFILE = ROOT / "Containerfile"


def stages() -> list[list[tuple[str, str]]]:
    """The Containerfile's stages, each a list of (INSTRUCTION, arguments), continuation lines joined."""
    logical, pending = [], ""
    for line in CONTAINERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    found: list[list[tuple[str, str]]] = [[]]
    for text in logical:
        instruction, _, arguments = text.strip().partition(" ")
        if instruction.upper() == "FROM":
            found.append([])
        found[-1].append((instruction.upper(), arguments.strip()))
    return found


def pairs(arguments: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in shlex.split(arguments))


def final() -> dict[str, list[str]]:
    by_instruction: dict[str, list[str]] = {}
    for instruction, arguments in stages()[-1]:
        by_instruction.setdefault(instruction, []).append(arguments)
    return by_instruction


def test_two_stages_from_bookworm_slim_the_wheels_hash_checked_from_the_locks_then_install_sh():
    global_args, wheels, image = stages()
    assert ("ARG", f"VERSION={VERSION}") in global_args  # pyproject.toml's version
    assert wheels[0] == ("FROM", "debian:bookworm-slim AS wheels")
    copied = " ".join(a for i, a in wheels if i == "COPY")
    assert "requirements/runtime.lock" in copied and "requirements/pip.lock" in copied
    assert "deploy/image/install.sh" in copied
    built = " ".join(a for i, a in wheels if i == "RUN")
    assert "--require-hashes" in built and "pip wheel --no-deps" in built
    assert image[0] == ("FROM", "debian:bookworm-slim")
    (run,) = [a for i, a in image if i == "RUN"]
    assert "python3 ca-certificates" in run and "sh /tmp/wheels/install.sh /tmp/wheels" in run
    assert "--mount=type=bind,from=wheels" in run  # the wheels never become a layer of the image
    assert "install.sh" in (ROOT / "deploy/image/build.sh").read_text()


def test_user_entrypoint_command_and_environment_are_the_contracts():
    image = final()
    assert image["USER"] == ["10001:10001"] and image["WORKDIR"] == ["/var/lib/resetbot"]
    assert json.loads(image["ENTRYPOINT"][0]) == ["/opt/resetbot/bin/resetbot"]
    assert json.loads(image["CMD"][0]) == ["run"]
    env = pairs(" ".join(image["ENV"]))
    assert env["RESETBOT_HOME"] == "/var/lib/resetbot" and env["RESETBOT_HEALTH_HOST"] == "0.0.0.0"


@pytest.mark.image
def test_the_containerfile_says_what_the_built_images_config_says(image):
    containerfile = final()
    config = image.config["config"]
    assert pairs(" ".join(containerfile["ENV"])) == image.env
    assert containerfile["USER"] == [config["User"]] and containerfile["WORKDIR"] == [config["WorkingDir"]]
    assert json.loads(containerfile["ENTRYPOINT"][0]) == config["Entrypoint"]
    assert json.loads(containerfile["CMD"][0]) == config["Cmd"]
    assert containerfile["STOPSIGNAL"] == [config["StopSignal"]]
    labels = {k: re.sub(r"\$\{VERSION\}", VERSION, v) for k, v in pairs(" ".join(containerfile["LABEL"])).items()}
    built = {k: v for k, v in config["Labels"].items() if k != "org.opencontainers.image.source"}  # a git remote's
    assert labels.keys() == built.keys()
    for key in ("title", "description", "version"):
        name = f"org.opencontainers.image.{key}"
        assert labels[name] == built[name]
