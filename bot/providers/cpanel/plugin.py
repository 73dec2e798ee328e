"""The cPanel & WHM plugin: the one object the registry lists for this provider."""

from __future__ import annotations

import requests

from bot.domain import Method
from bot.providers import CallBudget
from bot.providers.cpanel import settings
from bot.providers.cpanel.account import ACCOUNT
from bot.providers.cpanel.client import CpanelClient
from bot.providers.cpanel.gateway import CpanelGateway
from bot.providers.cpanel.passwords import CPANEL_RULES
from bot.providers.plugin import ProviderPlugin


def build_gateway(cfg: settings.CpanelSettings, *, session: requests.Session, budget: CallBudget) -> CpanelGateway:
    # No call budget: WHM documents no rate limit for API tokens, and each call is at most 2 attempts.
    return CpanelGateway(CpanelClient(cfg.api_url, cfg.api_username, cfg.api_token, session=session))


PLUGIN = ProviderPlugin(
    name=CpanelGateway.provider,
    label="cPanel",
    methods=(Method.SET_PASSWORD,),
    account=ACCOUNT,
    password_rules=CPANEL_RULES,
    same_password_retry_is_safe=CpanelGateway.same_password_retry_is_safe,
    env_variables=settings.ENV_VARIABLES,
    enabled_by=settings.ENABLED_BY,
    settings_from_env=settings.from_env,
    build_gateway=build_gateway,
)
