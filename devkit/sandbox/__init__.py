"""Loopback servers that speak the MyOwnFreeHost, Namecheap, cPanel & WHM and Plesk wire protocols
(docs/providers.md §1, §2; docs/provider-cpanel.md; docs/provider-plesk.md).

`resetbot sandbox`, `resetbot demo` and the end-to-end tests run the real provider clients
against these servers. Accounts live in memory; every request is recorded in `calls()`
with its secrets masked.

One module per provider (mofh.py, namecheap.py, cpanel.py, plesk.py: accounts, endpoints, bodies), the HTTP
plumbing they share (server.py), what they start with (seed.py), `Sandbox` composing
them (sandbox.py) and the `resetbot sandbox` command (command.py).
"""

from devkit.sandbox.command import serve
from devkit.sandbox.cpanel import CPANEL_FAILURES, CpanelAccount, password_strength
from devkit.sandbox.mofh import MOFH_FAILURES, MOFH_PASSWORD_SYMBOLS, MofhAccount
from devkit.sandbox.namecheap import NAMECHEAP_FAILURES, NamecheapUser
from devkit.sandbox.plesk import PLESK_FAILURES, PleskCustomer
from devkit.sandbox.sandbox import SANDBOXED, BotEnvironment, Sandbox, SandboxCall
from devkit.sandbox.seed import SandboxSeed, default_seed, load_seed

__all__ = [
    "CPANEL_FAILURES",
    "MOFH_FAILURES",
    "MOFH_PASSWORD_SYMBOLS",
    "NAMECHEAP_FAILURES",
    "PLESK_FAILURES",
    "SANDBOXED",
    "BotEnvironment",
    "CpanelAccount",
    "MofhAccount",
    "NamecheapUser",
    "PleskCustomer",
    "Sandbox",
    "SandboxCall",
    "SandboxSeed",
    "default_seed",
    "load_seed",
    "password_strength",
    "serve",
]
