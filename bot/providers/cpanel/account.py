"""cPanel's account field: a cPanel username, or a domain that WHM resolves to its account at execution.

One set of rules for the modal (through the workflow) and for `client.py`, which checks the
same patterns before it sends anything (docs/provider-cpanel.md §3, §9).

What was typed is read in this order: anything shaped like a domain (a dot and a top-level
label, `acmeshop.example`) is a domain, and stays the request's account; `getdomainowner`
names its account right before `passwd` (bot/providers/cpanel/client.py:
`change_password_by_domain`). Otherwise it must be a cPanel username: 1 to 16 of
`[a-z0-9._-]`, lower case, not starting with `-` or `.`. The server's root, system accounts
and (in the client, which knows it) the API token's own account are refused: `user=root`
would change the server's root password.
"""

from __future__ import annotations

import re

from bot.providers._names import DOMAIN, non_ascii_problem
from bot.providers.plugin import AccountDirectory, AccountField, ParsedAccount

# Cpanel::Validate::Username (transfer mode): docs/provider-cpanel.md §3. re.ASCII: no look-alikes (_names.py).
USERNAME = re.compile(r"^(?![-.])[-._a-z0-9]{1,16}\Z", re.ASCII)
USERNAME_ANY_CASE = re.compile(r"^(?![-.])[-._A-Za-z0-9]{1,16}\Z", re.ASCII)
USERNAME_RULE = ("1 to 16 lower-case letters, digits, dots, dashes or underscores, not starting with a dot "
                 "or a dash")

# Never a customer's account: `root` is the server's own (§0 item 8); the others are the system users a
# cPanel server has, which cPanel also refuses as account names. The client adds the API token's own user.
SYSTEM_NAMES = frozenset({
    "root", "toor", "nobody", "cpanel", "system", "all", "whm", "daemon", "bin", "sys", "adm", "lp", "sync",
    "shutdown", "halt", "mail", "operator", "games", "ftp", "named", "mysql", "postgres", "apache", "httpd",
    "dovecot", "dovenull", "mailman", "mailnull", "exim", "sshd", "cpses", "cpanellogin", "cpaneleximfilter",
    "cpaneleximscanner", "cpanelphpmyadmin", "cpanelphppgadmin", "cpanelroundcube", "cpanelconnecttrack",
    "cpanelcabcache", "cpanelanalytics", "virtfs",
})

LABEL = "Account (cPanel username or domain)"
HINT = ("cPanel: the account's username (e.g. acmeshop), or one of its domains; WHM names the domain's account "
        "right before the change.")
MAX_DOMAIN = 253


def is_domain(account: str) -> bool:
    """Whether the request's account is a domain (to resolve through getdomainowner), not a username."""
    return "." in account and DOMAIN.match(account) is not None


def normalised_domain(raw: str) -> str:
    """A domain as the request keeps it: lower case, without the root's trailing dot. Only ASCII is folded:
    lower() turns U+212A KELVIN SIGN into `k`, a look-alike that must never reach a real domain."""
    stripped = raw.strip().removesuffix(".")
    return stripped.lower() if stripped.isascii() else stripped


def username_problem(name: object, *, api_username: str | None = None) -> str | None:
    """Why `name` may not be sent as a cPanel username (the end of a sentence), or None."""
    if not isinstance(name, str) or not USERNAME.match(name):
        return f"is not a cPanel username ({USERNAME_RULE})"
    if name in SYSTEM_NAMES:
        return "is a system account, never a customer's, so the bot does not change its password"
    if api_username is not None and name.casefold() == api_username.casefold():
        return "is the API token's own account, which the bot never changes"
    return None


def parse(raw: str, directory: AccountDirectory) -> ParsedAccount:
    """The username as typed, or the domain in lower case; no directory is needed (WHM names a domain's owner)."""
    raw = raw.strip()
    if not raw:
        return ParsedAccount(raw, "Enter the cPanel username or one of the account's domains.")
    if problem := non_ascii_problem(raw):
        return ParsedAccount(raw, problem)
    domain = normalised_domain(raw)
    if is_domain(domain) and len(domain) <= MAX_DOMAIN:
        return ParsedAccount(domain)
    if USERNAME.match(raw):
        why = username_problem(raw)
        return ParsedAccount(raw) if why is None else ParsedAccount(raw, f"{raw} {why}.")
    if USERNAME_ANY_CASE.match(raw):
        return ParsedAccount(raw, f"cPanel usernames are lower case: enter {raw.lower()}.")
    return ParsedAccount(raw, f"A cPanel username is {USERNAME_RULE}; you can also enter one of its domains.")


ACCOUNT = AccountField(label=LABEL, hint=HINT, parse=parse, max_length=MAX_DOMAIN)

__all__ = [
    "ACCOUNT",
    "HINT",
    "LABEL",
    "MAX_DOMAIN",
    "SYSTEM_NAMES",
    "USERNAME",
    "USERNAME_RULE",
    "is_domain",
    "normalised_domain",
    "parse",
    "username_problem",
]
