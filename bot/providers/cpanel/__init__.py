"""cPanel & WHM as a provider plugin: client, settings, account field, password rules, gateway.

`from bot.providers.cpanel import CpanelClient` is the public import (docs/CONTRACT.md,
"Provider modules"); `PLUGIN` is what `bot/providers/registry.py` lists.
"""

from __future__ import annotations

from bot.providers.cpanel.client import CpanelClient, normalise_base_url
from bot.providers.cpanel.plugin import PLUGIN
from bot.providers.cpanel.settings import CpanelSettings

__all__ = ["PLUGIN", "CpanelClient", "CpanelSettings", "normalise_base_url"]
