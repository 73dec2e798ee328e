"""What the sandbox starts with: the built-in demo accounts, or a JSON seed file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from devkit.sandbox.cpanel import CpanelAccount
from devkit.sandbox.mofh import MofhAccount
from devkit.sandbox.namecheap import NamecheapUser
from devkit.sandbox.plesk import PleskCustomer


@dataclass
class SandboxSeed:
    mofh_accounts: list[MofhAccount] = field(default_factory=list)
    namecheap_users: list[NamecheapUser] = field(default_factory=list)
    cpanel_accounts: list[CpanelAccount] = field(default_factory=list)
    plesk_customers: list[PleskCustomer] = field(default_factory=list)


def default_seed() -> SandboxSeed:
    return SandboxSeed(
        mofh_accounts=[
            MofhAccount(
                key="webq7k2m",
                password="Start1234Pass",
                vpanel_username="abcd_40312277",
                domains=["shop.example.net"],
            ),
            MofhAccount(
                key="susp01x",
                password="Susp1234Pass",
                state="x",
                vpanel_username="abcd_40312278",
                domains=["old.example.net"],
            ),
            MofhAccount(
                key="slow01",
                password="Slow1234Pass",
                vpanel_username="abcd_40312279",
                domains=["slow.example.net"],
            ),
        ],
        namecheap_users=[
            NamecheapUser(
                username="acmeshop",
                password="Acme~Start2024",
                email="owner@example.org",
                domains=["acmeshop.example.com"],
            ),
            NamecheapUser(
                username="lockeduser",
                password="Locked~2024x",
                email="locked@example.org",
                status="locked",
                domains=["locked.example.com"],
            ),
        ],
        # The sandbox's API user is the reseller "resellerbot": it owns acmeshop and oldshop, and is
        # itself an account of root's; otherres1 belongs to another reseller (passwd answers "not the owner").
        cpanel_accounts=[
            CpanelAccount(
                user="acmeshop",
                password="Acme-Start-2024x",
                domain="acmeshop.example",
                email="owner@acmeshop.example",
                addon_domains=["acme-blog.example", "shop.acmeshop.example"],
            ),
            CpanelAccount(
                user="oldshop",
                password="Old-Start-2024x",
                domain="oldshop.example",
                email="owner@oldshop.example",
                suspended=True,
                suspend_reason="Unpaid invoice 2291",
            ),
            CpanelAccount(
                user="otherres1",
                password="Other-Start-2024x",
                domain="other-reseller.example",
                owner="otherreseller",
                email="owner@other-reseller.example",
            ),
            CpanelAccount(
                user="resellerbot",
                password="Reseller-Start-2024x",
                domain="resellerbot.example",
                owner="root",
                email="hosting@resellerbot.example",
            ),
        ],
        plesk_customers=[
            PleskCustomer(  # the customer of tests/fixtures/providers/plesk/get_active.xml
                login="jdoe42",
                password="Start#2024-Plesk!Jd",
                customer_id=1187,
                cname="Example Shop Ltd",
                pname="Jane Doe",
                email="jane.doe@example.org",
                phone="+1 555 0100",
                address="1 Example Street",
                city="Springfield",
                pcode="12345",
                guid="6f1c2a7e-3b9d-4e8a-9c51-2d7f0b4e8a13",
            ),
            PleskCustomer(  # disabled by the administrator (status 16): its password may still be set
                login="oldshop",
                password="Old#2019-Plesk!Shop",
                customer_id=1190,
                status=16,
                cname="Old Shop",
                pname="Sam Old",
                email="owner@old.example.org",
            ),
        ],
    )


def _from_dict(cls, data: dict):
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {sorted(unknown)}")
    return cls(**data)


def load_seed(path) -> SandboxSeed:
    """Read a JSON seed: {"mofh_accounts": [{...MofhAccount...}], "namecheap_users": [{...}],
    "cpanel_accounts": [{...CpanelAccount...}], "plesk_customers": [{...PleskCustomer...}]}."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("seed must be a JSON object")
    unknown = set(data) - {"mofh_accounts", "namecheap_users", "cpanel_accounts", "plesk_customers"}
    if unknown:
        raise ValueError(f"seed: unknown key(s) {sorted(unknown)}")
    return SandboxSeed(
        mofh_accounts=[_from_dict(MofhAccount, item) for item in data.get("mofh_accounts", [])],
        namecheap_users=[_from_dict(NamecheapUser, item) for item in data.get("namecheap_users", [])],
        cpanel_accounts=[_from_dict(CpanelAccount, item) for item in data.get("cpanel_accounts", [])],
        plesk_customers=[_from_dict(PleskCustomer, item) for item in data.get("plesk_customers", [])],
    )
