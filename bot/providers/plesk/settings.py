"""Plesk's settings from the environment: PLESK_API_URL and one credential set (login and password, or a key).

Enabled when PLESK_API_URL and exactly one credential set are given: PLESK_API_LOGIN with
PLESK_API_PASSWORD (sent as HTTP_AUTH_LOGIN / HTTP_AUTH_PASSWD), or PLESK_API_KEY alone (sent
as KEY). A key together with a login or password, half a pair, or credentials without a URL
(or a URL without credentials) is a problem naming the variables, and Plesk stays disabled; so
is a credential holding a control character (it travels in a header).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.providers.plugin import env_text, url_problem
from bot.secret import Secret

API_URL, API_LOGIN, API_PASSWORD, API_KEY = "PLESK_API_URL", "PLESK_API_LOGIN", "PLESK_API_PASSWORD", "PLESK_API_KEY"
ENV_VARIABLES = (API_URL, API_LOGIN, API_PASSWORD, API_KEY)
ENABLED_BY = f"{API_URL} with {API_LOGIN} and {API_PASSWORD} (or {API_KEY})"


@dataclass(frozen=True)
class PleskSettings:
    api_url: str
    login: str | None = None  # with password: login mode
    password: Secret | None = None
    secret_key: Secret | None = None  # alone: key mode


def from_env(env: Mapping[str, str]) -> tuple[PleskSettings | None, list[str]]:
    url, login, password, key = (env_text(env, name) for name in ENV_VARIABLES)
    if not (url or login or password or key):
        return None, []
    problems: list[str] = []
    if url:
        bad_url = url_problem(API_URL, url)  # https://, or http:// to a loopback host only
        if bad_url:
            problems.append(bad_url)
    if key and (login or password):
        mixed = " and ".join(name for name, value in ((API_LOGIN, login), (API_PASSWORD, password)) if value)
        problems.append(f"{API_KEY} is set together with {mixed}, so Plesk stays disabled: it takes either "
                        f"{API_LOGIN} and {API_PASSWORD}, or {API_KEY} alone")
    elif (login or password) and not (login and password):
        missing = API_PASSWORD if login else API_LOGIN
        problems.append(f"{missing} is not set, so Plesk stays disabled (set {API_LOGIN} and {API_PASSWORD} "
                        f"together, or {API_KEY} alone)")
    elif not (login or key):
        problems.append(f"{API_LOGIN} and {API_PASSWORD}, or {API_KEY}, are not set, so Plesk stays disabled "
                        f"(set them, or unset {API_URL})")
    if not url:
        problems.append(f"{API_URL} is not set, so Plesk stays disabled (set it to https://HOST:8443)")
    for name, value in ((API_LOGIN, login), (API_PASSWORD, password), (API_KEY, key)):
        if value and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            problems.append(f"{name} holds a line break or another control character, which cannot travel in an "
                            "HTTP header")
    if problems:
        return None, problems
    assert url is not None
    if key:
        return PleskSettings(url, secret_key=Secret(key)), []
    return PleskSettings(url, login=login, password=Secret(password or "")), []
