"""The Namecheap plugin: the one object the registry lists for this provider."""

from __future__ import annotations

import requests

from bot.domain import METHOD_LABELS, Method
from bot.providers import CallBudget
from bot.providers.namecheap import settings
from bot.providers.namecheap.account import ACCOUNT, check_current_password, check_reset_code
from bot.providers.namecheap.client import NamecheapClient
from bot.providers.namecheap.gateway import NamecheapGateway
from bot.providers.namecheap.passwords import NAMECHEAP_RULES
from bot.providers.plugin import ProviderPlugin, SecretInput


def build_gateway(cfg: settings.NamecheapSettings, *, session: requests.Session,
                  budget: CallBudget) -> NamecheapGateway:
    # The budget is the database's, so every replica keeps one 20-a-minute limit per API user.
    return NamecheapGateway(NamecheapClient(cfg.api_url, cfg.api_user, cfg.api_key, cfg.client_ip,
                                            session=session, budget=budget))


PLUGIN = ProviderPlugin(
    name=NamecheapGateway.provider,
    label="Namecheap",
    methods=(Method.EMAIL_LINK, Method.RESET_CODE, Method.CURRENT_PASSWORD),
    account=ACCOUNT,
    password_rules=NAMECHEAP_RULES,
    same_password_retry_is_safe=NamecheapGateway.same_password_retry_is_safe,
    env_variables=settings.ENV_VARIABLES,
    enabled_by=settings.ENABLED_BY,
    settings_from_env=settings.from_env,
    build_gateway=build_gateway,
    secret_inputs={
        Method.RESET_CODE: SecretInput(METHOD_LABELS[Method.RESET_CODE], check_reset_code),
        Method.CURRENT_PASSWORD: SecretInput(METHOD_LABELS[Method.CURRENT_PASSWORD], check_current_password),
    },
    method_hint=(
        "Email a reset link: Namecheap mails the owner and the bot never holds a password. "
        "Reset code / Current password: the bot sets a new password and gives it to you once."
    ),
)
