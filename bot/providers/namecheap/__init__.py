"""Namecheap as a provider plugin: client, settings, account field, password rules, gateway.

`from bot.providers.namecheap import NamecheapClient` is the public import outside test
suites rely on; `PLUGIN` is what `bot/providers/registry.py` lists.
"""

from __future__ import annotations

from bot.providers.namecheap.client import (
    CALLS_PER_WINDOW,
    DEFAULT_BUDGET,
    WINDOW_SECONDS,
    CallBudget,
    InProcessCallBudget,
    NamecheapClient,
    outcome_for_error,
)
from bot.providers.namecheap.plugin import PLUGIN
from bot.providers.namecheap.settings import NamecheapSettings

__all__ = [
    "CALLS_PER_WINDOW",
    "DEFAULT_BUDGET",
    "PLUGIN",
    "WINDOW_SECONDS",
    "CallBudget",
    "InProcessCallBudget",
    "NamecheapClient",
    "NamecheapSettings",
    "outcome_for_error",
]
