"""cPanel's settings from the environment: CPANEL_API_URL, CPANEL_API_USERNAME, CPANEL_API_TOKEN.

All three set = provider `cpanel` enabled; some but not all is a problem, and it stays off. No
problem sentence repeats a value: a token pasted into the wrong variable must not be echoed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.providers.cpanel.account import USERNAME
from bot.providers.cpanel.client import port_problem, token_problem
from bot.providers.plugin import env_text, url_problem
from bot.secret import Secret

API_URL, API_USERNAME, API_TOKEN = "CPANEL_API_URL", "CPANEL_API_USERNAME", "CPANEL_API_TOKEN"
ENV_VARIABLES = (API_URL, API_USERNAME, API_TOKEN)
ENABLED_BY = f"{API_URL}, {API_USERNAME} and {API_TOKEN}"


@dataclass(frozen=True)
class CpanelSettings:
    api_url: str
    api_username: str
    api_token: Secret


def from_env(env: Mapping[str, str]) -> tuple[CpanelSettings | None, list[str]]:
    """Enabled when all three are set; each value that cannot work is one problem naming its variable."""
    api_url, username, token = (env_text(env, name) for name in ENV_VARIABLES)
    problems: list[str] = []
    if api_url:
        bad_url = url_problem(API_URL, api_url) or port_problem(api_url)  # https://, or http:// to a loopback host
        if bad_url:
            problems.append(bad_url)
    if username and not USERNAME.match(username):
        problems.append(f"{API_USERNAME} must be the WHM user the token belongs to (root or a reseller: lower-case "
                        "letters, digits, dots, dashes or underscores, at most 16)")
    if token and (why := token_problem(token)):
        problems.append(f"{API_TOKEN} {why}")
    if problems:
        return None, problems
    if api_url and username and token:
        return CpanelSettings(api_url, username, Secret(token)), []
    if api_url or username or token:
        missing = ", ".join(name for name, value in zip(ENV_VARIABLES, (api_url, username, token), strict=True)
                            if not value)
        return None, [f"{missing} not set, so cPanel stays disabled (set all three or none)"]
    return None, []
