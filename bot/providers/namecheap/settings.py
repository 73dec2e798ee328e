"""Namecheap's settings from the environment: NAMECHEAP_API_URL, _API_USER, _API_KEY, _CLIENT_IP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.providers.plugin import env_text, url_problem
from bot.secret import Secret

API_URL, API_USER, API_KEY = "NAMECHEAP_API_URL", "NAMECHEAP_API_USER", "NAMECHEAP_API_KEY"
CLIENT_IP = "NAMECHEAP_CLIENT_IP"
ENV_VARIABLES = (API_URL, API_USER, API_KEY, CLIENT_IP)
ENABLED_BY = f"{API_USER}, {API_KEY} and {CLIENT_IP}"
DEFAULT_API_URL = "https://api.namecheap.com/xml.response"


@dataclass(frozen=True)
class NamecheapSettings:
    api_url: str
    api_user: str
    api_key: Secret
    client_ip: str


def from_env(env: Mapping[str, str]) -> tuple[NamecheapSettings | None, list[str]]:
    """Enabled when all three credentials are set; some but not all is a problem, and the provider stays off."""
    user, key, client_ip = (env_text(env, name) for name in (API_USER, API_KEY, CLIENT_IP))
    api_url = env_text(env, API_URL) or DEFAULT_API_URL
    bad_url = url_problem(API_URL, api_url)  # https://, or http:// to a loopback host only
    if bad_url:
        return None, [bad_url]
    if user and key and client_ip:
        return NamecheapSettings(api_url, user, Secret(key), client_ip), []
    if user or key or client_ip:
        missing = ", ".join(name for name, value in ((API_USER, user), (API_KEY, key), (CLIENT_IP, client_ip))
                            if not value)
        return None, [f"{missing} not set, so Namecheap stays disabled (set all three or none)"]
    return None, []
