"""Plesk as a provider plugin: client, settings, account field, password rules, gateway (docs/provider-plesk.md).

`from bot.providers.plesk import PleskClient` is the public import (CONTRACT, provider
modules); `PLUGIN` is what `bot/providers/registry.py` lists.
"""

from __future__ import annotations

from bot.providers.plesk.client import PleskClient, normalise_base_url
from bot.providers.plesk.plugin import PLUGIN
from bot.providers.plesk.settings import PleskSettings

__all__ = ["PLUGIN", "PleskClient", "PleskSettings", "normalise_base_url"]
