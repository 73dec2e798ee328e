"""MyOwnFreeHost's settings from the environment: MOFH_API_URL, MOFH_API_USERNAME, MOFH_API_PASSWORD."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.providers.plugin import env_text, url_problem
from bot.secret import Secret

API_URL, API_USERNAME, API_PASSWORD = "MOFH_API_URL", "MOFH_API_USERNAME", "MOFH_API_PASSWORD"
ENV_VARIABLES = (API_URL, API_USERNAME, API_PASSWORD)
ENABLED_BY = f"{API_USERNAME} and {API_PASSWORD}"
DEFAULT_API_URL = "https://panel.myownfreehost.net"


@dataclass(frozen=True)
class MofhSettings:
    api_url: str
    api_username: str
    api_password: Secret


def from_env(env: Mapping[str, str]) -> tuple[MofhSettings | None, list[str]]:
    """Enabled when both credentials are set; one of the two alone is a problem, and the provider stays off."""
    username, password = env_text(env, API_USERNAME), env_text(env, API_PASSWORD)
    api_url = env_text(env, API_URL) or DEFAULT_API_URL
    bad_url = url_problem(API_URL, api_url)  # https://, or http:// to a loopback host only
    if bad_url:
        return None, [bad_url]
    if username and password:
        return MofhSettings(api_url, username, Secret(password)), []
    if username or password:
        missing = API_PASSWORD if username else API_USERNAME
        return None, [f"{missing} is not set, so MyOwnFreeHost stays disabled (set both or neither)"]
    return None, []
