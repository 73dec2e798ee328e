"""Table-driven: every fixture in the index files, served by a real HTTP server, classified as listed.

The main and `extra/` indexes name files relative to the fixtures folder; `cpanel/index.json` (as the
shared spec ships it) names them relative to its own folder, and may give a `companion`: the answer
to the follow-up call (`getdomainowner`, then `accountsummary` of the owner it names).
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import pytest

from bot.providers import ChangeResult, LookupResult, Outcome
from tests.providers.conftest import (
    CPANEL_DOMAIN,
    CPANEL_PASSWORD,
    CPANEL_USER,
    FIXTURES,
    MOFH_KEY,
    MOFH_PASSWORD,
    PLESK_LOGIN,
    PLESK_PASSWORD,
)

# (index, the folder its file names are relative to)
INDEXES = [(FIXTURES / "index.json", FIXTURES), (FIXTURES / "extra" / "index.json", FIXTURES),
           (FIXTURES / "cpanel" / "index.json", FIXTURES / "cpanel")]
EXTRA_KEYS = {
    "account_status", "reason", "error_numbers", "retryable", "certainty", "user_id", "email",
    "domains", "account_state", "vp_username", "username",
}
LOOKUPS = ("getuserdomains", "getdomainuser", "accountsummary", "getdomainowner")


def _entries():
    for index, folder in INDEXES:
        for entry in json.loads(index.read_text(encoding="utf-8"))["fixtures"]:
            entry = dict(entry)
            for key in ("file", "companion"):  # every name relative to the fixtures folder
                if key in entry:
                    entry[key] = (folder / entry[key]).relative_to(FIXTURES).as_posix()
            yield pytest.param(entry, id=entry["file"])


ENTRIES = list(_entries())


def _is_lookup(entry) -> bool:
    name = PurePosixPath(entry["file"]).name
    if entry["provider"] == "plesk":  # get_*: customer/get; set_*, system_*, http_*: customer/set
        return name.startswith("get_")
    return name.startswith(LOOKUPS)


def _call(entry, make_mofh, make_namecheap, make_cpanel, make_plesk):
    name = PurePosixPath(entry["file"]).name
    if entry["provider"] == "plesk":
        plesk = make_plesk()
        return plesk.account_info(login=PLESK_LOGIN) if _is_lookup(entry) else plesk.change_password(
            PLESK_LOGIN, PLESK_PASSWORD)
    if entry["provider"] == "mofh":
        client = make_mofh()
        if name.startswith("getuserdomains"):
            return client.account_info(vpanel_username="abcd_40312277")
        if name.startswith("getdomainuser"):
            return client.account_info(domain="shop.example.net")
        return client.change_password(MOFH_KEY, MOFH_PASSWORD)
    if entry["provider"] == "cpanel":
        cpanel = make_cpanel()
        if name.startswith("accountsummary"):
            return cpanel.account_info(username=CPANEL_USER)
        if name.startswith("getdomainowner"):
            return cpanel.account_info(domain=CPANEL_DOMAIN)
        return cpanel.change_password(CPANEL_USER, CPANEL_PASSWORD)
    client = make_namecheap()
    if name.startswith("resetpassword"):
        return client.reset_password(find_by="USERNAME", value="owner1")
    return client.change_password("Vt8#qLm2!xR7pWz~", username="owner1", old_password="OldPass123!")


@pytest.mark.parametrize("entry", ENTRIES)
def test_fixture_is_classified_as_indexed(entry, server, make_mofh, make_namecheap, make_cpanel, make_plesk):
    body = (FIXTURES / entry["file"]).read_bytes()
    if "companion" in entry:
        server.enqueue(entry["http_status"], body)
        server.enqueue(200, (FIXTURES / entry["companion"]).read_bytes())
    else:
        server.set_default(entry["http_status"], body)

    result = _call(entry, make_mofh, make_namecheap, make_cpanel, make_plesk)

    expected = entry["expected"]
    assert result.outcome == Outcome(expected["outcome"]), result.message
    unknown_keys = set(expected) - {"outcome"} - EXTRA_KEYS
    assert not unknown_keys, f"index uses keys the test does not know: {unknown_keys}"
    for key in EXTRA_KEYS & set(expected):
        assert getattr(result, key) == expected[key], f"{key}: {getattr(result, key)!r} != {expected[key]!r}"
    # every result: a short actionable sentence, never a success unless the index says so
    assert result.message and result.message.endswith(".") and "\n" not in result.message
    assert len(result.message) < 300
    assert result.ok == Outcome(expected["outcome"]).is_success
    assert result.provider_message is None or len(result.provider_message) <= 512
    assert 1 <= result.attempts <= 3 and len(server.requests) == result.attempts
    assert all(r.method == "POST" for r in server.requests)
    is_lookup = _is_lookup(entry)
    assert isinstance(result, LookupResult if is_lookup else ChangeResult)
    if entry["provider"] == "cpanel":  # the function each call named (docs/provider-cpanel.md §1.1)
        asked = [r.path.rsplit("/", 1)[-1] for r in server.requests]
        function = PurePosixPath(entry["file"]).name.split("_", 1)[0]
        assert asked[0] == (function if is_lookup else "passwd") and set(asked[1:]) <= {asked[0], "accountsummary"}


def test_every_fixture_file_is_indexed():
    indexed = {entry.values[0]["file"] for entry in ENTRIES}
    on_disk = {
        path.relative_to(FIXTURES).as_posix()
        for path in FIXTURES.rglob("*")
        if path.is_file() and path.name not in {"index.json", "README.md"}
    }
    assert on_disk == indexed


def test_extra_index_has_the_main_format():
    main = json.loads(INDEXES[0][0].read_text())
    extra = json.loads(INDEXES[1][0].read_text())
    keys = {frozenset(e) for e in main["fixtures"]}
    assert {frozenset(e) for e in extra["fixtures"]} <= keys
    assert all(e["file"].startswith("extra/") for e in extra["fixtures"])
