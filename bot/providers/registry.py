"""The provider registry: every provider the bot knows, in the order config, the modal and the CLI list them.

Adding a provider is its folder under `bot/providers/` and one entry in `PLUGINS`. Callers
go through `plugins()` / `by_name()` / `names()` / `catalog()` at call time, so a test may
swap `PLUGINS`.
"""

from __future__ import annotations

from bot.domain import ProviderCatalog
from bot.providers import cpanel, mofh, namecheap, plesk
from bot.providers.plugin import ProviderPlugin

PLUGINS: tuple[ProviderPlugin, ...] = (mofh.PLUGIN, namecheap.PLUGIN, cpanel.PLUGIN, plesk.PLUGIN)


def plugins() -> tuple[ProviderPlugin, ...]:
    return PLUGINS


def names() -> tuple[str, ...]:
    return tuple(plugin.name for plugin in PLUGINS)


def by_name(name: str) -> ProviderPlugin | None:
    """The plugin called `name` ("mofh"), or None when no provider has that name."""
    return next((plugin for plugin in PLUGINS if plugin.name == name), None)


def catalog() -> ProviderCatalog:
    """Every plugin's description (bot/domain.py: ProviderInfo), for the workflow and the transports."""
    return ProviderCatalog(plugin.info for plugin in PLUGINS)


__all__ = ["PLUGINS", "by_name", "catalog", "names", "plugins"]
