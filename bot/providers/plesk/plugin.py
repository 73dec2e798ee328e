"""The Plesk plugin: the one object the registry lists for this provider."""

from __future__ import annotations

import requests

from bot.domain import Method
from bot.providers import CallBudget
from bot.providers.plesk import settings
from bot.providers.plesk.account import ACCOUNT
from bot.providers.plesk.client import PleskClient
from bot.providers.plesk.gateway import PleskGateway
from bot.providers.plesk.passwords import PLESK_RULES
from bot.providers.plugin import ProviderPlugin


def build_gateway(cfg: settings.PleskSettings, *, session: requests.Session, budget: CallBudget) -> PleskGateway:
    # No call budget: Plesk documents no rate limit for the XML API, and each call is at most 2 attempts.
    if cfg.secret_key is not None:
        client = PleskClient(cfg.api_url, secret_key=cfg.secret_key, session=session)
    else:
        client = PleskClient(cfg.api_url, login=cfg.login, password=cfg.password, session=session)
    return PleskGateway(client)


PLUGIN = ProviderPlugin(
    name=PleskGateway.provider,
    label="Plesk",
    methods=(Method.SET_PASSWORD,),
    account=ACCOUNT,
    password_rules=PLESK_RULES,
    same_password_retry_is_safe=PleskGateway.same_password_retry_is_safe,
    env_variables=settings.ENV_VARIABLES,
    enabled_by=settings.ENABLED_BY,
    settings_from_env=settings.from_env,
    build_gateway=build_gateway,
    suspended_refuses_change=False,  # an administrator sets a disabled customer's password (provider-plesk.md §10)
)
