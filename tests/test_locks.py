"""requirements/*.lock pin what pyproject.toml asks for: a dependency added or moved without `./dev lock` fails here."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# What each lock installs: the runtime plus these extras (requirements/runtime.lock is the image's).
LOCKS = {"runtime.lock": ("postgres",), "test.lock": ("test",), "pip.lock": None}


def pins(lock: str) -> dict[str, Version]:
    pinned = {}
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            requirement = line.split(";")[0].split("\\")[0].strip()
            name, _, version = requirement.partition("==")
            pinned[canonicalize_name(name)] = Version(version)
    return pinned


def wanted(extras: tuple[str, ...]) -> list[Requirement]:
    """The runtime's requirements and those of `extras`, following the project's references to itself."""
    found = [Requirement(r) for r in PROJECT["dependencies"]]
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in map(Requirement, PROJECT["optional-dependencies"][extra]):
            if canonicalize_name(requirement.name) == canonicalize_name(PROJECT["name"]):
                todo.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


@pytest.mark.parametrize("lock, extras", [(k, v) for k, v in LOCKS.items() if v is not None])
def test_each_lock_pins_every_requirement_within_its_range(lock, extras):
    pinned = pins(lock)
    for requirement in wanted(extras):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"requirements/{lock} lacks {requirement}: run ./dev lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"requirements/{lock} pins {name}=={pinned[name]}, outside {requirement}: run ./dev lock")


def test_the_image_lock_has_the_postgres_driver_and_not_the_dev_kit():
    pinned = pins("runtime.lock")
    assert {"psycopg", "psycopg-binary"} <= pinned.keys()
    assert "websockets" not in pinned and "pytest" not in pinned


def test_every_pin_carries_a_hash():
    for lock in LOCKS:
        text = (ROOT / "requirements" / lock).read_text()
        assert text.count("==") <= text.count("--hash=sha256:"), lock
