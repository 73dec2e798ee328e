"""MyOwnFreeHost as a provider plugin: client, settings, account field, password rules, gateway.

`from bot.providers.mofh import MofhClient` is the public import outside test suites
rely on; `PLUGIN` is what `bot/providers/registry.py` lists.
"""

from __future__ import annotations

from bot.providers.mofh.client import MofhClient, normalise_base_url
from bot.providers.mofh.plugin import PLUGIN
from bot.providers.mofh.settings import MofhSettings

__all__ = ["PLUGIN", "MofhClient", "MofhSettings", "normalise_base_url"]
