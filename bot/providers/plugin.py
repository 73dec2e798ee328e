"""The provider plugin contract: what one provider folder gives config, the workflow, the modal and the CLI.

A plugin is data (name, label, methods, account field, password rules) plus two functions:
its settings from the environment and a gateway built from those settings. The registry
(`bot/providers/registry.py`) lists the plugins; nothing else names a provider. Slack-free
and SQL-free: the workflow hands the account directory in; handlers render `info`
(bot/domain.py: ProviderInfo), which the workflow hands them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.domain import AccountInfo, Method, MethodInfo, ProviderInfo, SecretInputInfo
from bot.passwords import PasswordRules
from bot.providers import CallBudget
from bot.providers._http import endpoint_problem
from bot.providers.gateway import ProviderGateway

if TYPE_CHECKING:
    import requests

# What the Reset code / Current password inputs say under them (handlers/blocks.py shows it).
SEALED_INPUT_HINT = "Stored encrypted until the approved change runs, then deleted."


class AccountDirectory(Protocol):
    """Maps what an engineer knows of an account to the key its provider needs (storage keeps the rows)."""

    def key_for_vpanel_username(self, vpanel_username: str) -> str | None: ...

    def key_for_domain(self, domain: str) -> str | None: ...

    def names_for(self, account: str) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class ParsedAccount:
    """What the Account input became: the value the provider is called with, or why it was refused."""

    account: str  # the provider's own account name; the input itself when refused
    error: str | None = None  # a sentence shown under the Account input

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class AccountField:
    """The Account input of one provider: its words in the modal and the one rule for what it accepts."""

    label: str  # starts with "Account": outside tools find the input by that word
    hint: str
    # (stripped input, directory) → ParsedAccount; the client checks the same patterns before sending.
    parse: Callable[[str, AccountDirectory], ParsedAccount]
    max_length: int = 64


@dataclass(frozen=True)
class SecretInput:
    """A secret the requester types for a method (a reset code, a current password); sealed at submit."""

    label: str
    check: Callable[[str], str | None]  # why the typed value is refused (a sentence), or None
    hint: str = SEALED_INPUT_HINT
    max_length: int = 50


@dataclass(frozen=True)
class RequestFields:
    """The provider's part of a request form, read: what the provider is called with, or the errors per input."""

    account: str
    method: Method | None
    errors: dict[str, str]  # keyed by input: "method", "account", "secret" (in that order)


class SettingsReader(Protocol):
    def __call__(self, env: Mapping[str, str]) -> tuple[Any | None, list[str]]:
        """(settings, problems): settings None when the provider is not configured; one sentence per problem."""
        ...


class GatewayFactory(Protocol):
    def __call__(self, settings: Any, /, *, session: requests.Session, budget: CallBudget) -> ProviderGateway:
        """The gateway for one configured provider; `session` is pooled, `budget` shared across replicas."""
        ...


@dataclass(frozen=True)
class ProviderPlugin:
    name: str  # "mofh": stored with requests, grants and policies; the /reset-password and --provider word
    label: str  # "MyOwnFreeHost": what people see
    methods: tuple[Method, ...]  # what the provider offers; the first is the modal's default
    account: AccountField
    password_rules: PasswordRules
    # True when repeating a call with the same new password is harmless, so a lapsed call is retried.
    same_password_retry_is_safe: bool
    env_variables: tuple[str, ...]  # every variable settings_from_env reads (check, docs)
    enabled_by: str  # "MOFH_API_USERNAME and MOFH_API_PASSWORD": what `run` asks for when no provider is set
    settings_from_env: SettingsReader
    build_gateway: GatewayFactory
    secret_inputs: Mapping[Method, SecretInput] = field(default_factory=dict)
    # Its accounts are found through the account directory (`resetbot accounts import`): the card's lookup is then
    # given what the directory calls the account (ProviderGateway.account_context's `known_as`).
    uses_directory: bool = False
    # The panel refuses to change a suspended account's password: the card warns approvers so. False where it sets
    # it all the same (Plesk: docs/provider-plesk.md §10).
    suspended_refuses_change: bool = True
    method_hint: str | None = None  # under the Method input, when there is more than one method

    def __post_init__(self) -> None:
        if not self.methods:
            raise ValueError(f"provider {self.name} offers no method")
        if not set(self.secret_inputs) <= set(self.methods):
            raise ValueError(f"provider {self.name} has a secret input for a method it does not offer")

    @property
    def default_method(self) -> Method:
        return self.methods[0]

    @property
    def info(self) -> ProviderInfo:
        """What the transports may know of this provider (its modal words), without importing bot.providers."""
        return ProviderInfo(
            name=self.name,
            label=self.label,
            account=AccountInfo(self.account.label, self.account.hint, self.account.max_length),
            methods=tuple(MethodInfo(method, _secret_info(self.secret_input_for(method))) for method in self.methods),
            method_hint=self.method_hint,
        )

    def secret_input_for(self, method: Method | None) -> SecretInput | None:
        return self.secret_inputs.get(method) if method is not None else None

    def method_from(self, chosen: str | None) -> Method | None:
        """The method a form asks for; a one-method provider needs no choice. None: missing or not offered."""
        if len(self.methods) == 1:
            return self.methods[0]
        return next((m for m in self.methods if m.value == (chosen or "").strip()), None)

    @property
    def method_error(self) -> str:
        return f"Choose how to reset the {self.label} password."

    def read_request(self, *, account: str | None, method: str | None, secret: str | None,
                     directory: AccountDirectory) -> RequestFields:
        """Method, account and typed secret checked by this provider's rules (the workflow checks the rest)."""
        errors: dict[str, str] = {}
        chosen = self.method_from(method)
        if chosen is None:
            errors["method"] = self.method_error
        parsed = self.account.parse((account or "").strip(), directory)
        if parsed.error is not None:
            errors["account"] = parsed.error
        secret_input = self.secret_input_for(chosen)
        if secret_input is not None:
            refusal = secret_input.check(secret or "")
            if refusal is not None:
                errors["secret"] = refusal
        return RequestFields(parsed.account, chosen, errors)


def _secret_info(secret_input: SecretInput | None) -> SecretInputInfo | None:
    if secret_input is None:
        return None
    return SecretInputInfo(secret_input.label, secret_input.hint, secret_input.max_length)


def env_text(env: Mapping[str, str], name: str) -> str | None:
    """A variable's value with surrounding blanks dropped; unset and blank are both None."""
    return env.get(name, "").strip() or None


def url_problem(name: str, url: str) -> str | None:
    """The one line naming `name` when its URL breaks the URL rule (bot/providers/_http.py: endpoint_problem)."""
    why = endpoint_problem(url)
    return f"{name} {why}" if why else None


__all__ = [
    "SEALED_INPUT_HINT",
    "AccountDirectory",
    "AccountField",
    "GatewayFactory",
    "ParsedAccount",
    "ProviderPlugin",
    "RequestFields",
    "SecretInput",
    "SettingsReader",
    "env_text",
    "url_problem",
]
