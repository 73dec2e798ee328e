"""The MyOwnFreeHost plugin: the one object the registry lists for this provider."""

from __future__ import annotations

import requests

from bot.domain import Method
from bot.providers import CallBudget
from bot.providers.mofh import settings
from bot.providers.mofh.account import ACCOUNT
from bot.providers.mofh.client import MofhClient
from bot.providers.mofh.gateway import MofhGateway
from bot.providers.mofh.passwords import MOFH_RULES
from bot.providers.plugin import ProviderPlugin


def build_gateway(cfg: settings.MofhSettings, *, session: requests.Session, budget: CallBudget) -> MofhGateway:
    # No call budget: MyOwnFreeHost documents no rate limit, and each call is at most 2 attempts.
    return MofhGateway(MofhClient(cfg.api_url, cfg.api_username, cfg.api_password, session=session))


PLUGIN = ProviderPlugin(
    name=MofhGateway.provider,
    label="MyOwnFreeHost",
    methods=(Method.SET_PASSWORD,),
    account=ACCOUNT,
    password_rules=MOFH_RULES,
    same_password_retry_is_safe=MofhGateway.same_password_retry_is_safe,
    env_variables=settings.ENV_VARIABLES,
    enabled_by=settings.ENABLED_BY,
    settings_from_env=settings.from_env,
    build_gateway=build_gateway,
    uses_directory=True,  # an account key, or a vPanel username or domain the directory maps to one
)
