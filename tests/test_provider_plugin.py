"""A throwaway provider plugs in through the registry alone: one plugin object, one registry entry.

"Acme" is defined here and nowhere else: its settings, account field, client and gateway.
Registering it (swapping `bot.providers.registry.PLUGINS`) is all it takes for config to
read its variables, for `check` and `run` to name its problems, for the composition root
to build its gateway into the workflow, for the modal to offer it with its own Account
field, for the workflow to check and run a request for it, and for the CLI to take its name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pytest
import requests

from bot import cli
from bot.app import build_runtime, make_providers
from bot.config import Settings
from bot.domain import InputErrors, Method, Role, Status
from bot.forms import RequestForm
from bot.passwords import ALNUM, PasswordRules
from bot.providers import CallBudget, ChangeResult, LookupResult, Outcome, registry
from bot.providers.namecheap import InProcessCallBudget
from bot.providers.plugin import AccountDirectory, AccountField, ParsedAccount, ProviderPlugin, env_text
from bot.sealing import Sealer, ephemeral_key
from bot.secret import Secret
from bot.workflow import ResetWorkflow
from handlers import blocks
from handlers.ids import Ids
from storage.budget import DatabaseCallBudget
from storage.db import make_engine, make_sessionmaker, migrate
from tests.unit.conftest import APPROVER, ENGINEER, InlineExecutor, RecordingNotifier

ACME_VARIABLES = ("ACME_API_URL", "ACME_API_TOKEN")
ACME_PROBLEM = "ACME_API_TOKEN is not set, so Acme stays disabled (set it, or unset ACME_API_URL)"
ACME_ID = re.compile(r"^acme-[0-9]{4}\Z")


@dataclass(frozen=True)
class AcmeSettings:
    api_url: str
    token: Secret


def acme_from_env(env: Mapping[str, str]) -> tuple[AcmeSettings | None, list[str]]:
    url, token = env_text(env, "ACME_API_URL"), env_text(env, "ACME_API_TOKEN")
    if token:
        return AcmeSettings(url or "https://api.acme.example", Secret(token)), []
    return None, [ACME_PROBLEM] if url else []


def acme_account(raw: str, directory: AccountDirectory) -> ParsedAccount:
    return ParsedAccount(raw) if ACME_ID.match(raw) else ParsedAccount(raw, "An Acme account is acme- and 4 digits.")


class AcmeClient:
    def __init__(self, settings: AcmeSettings, session: requests.Session, budget: CallBudget) -> None:
        self.settings, self.session, self.budget = settings, session, budget
        self.calls: list[tuple[str, str]] = []

    def set_password(self, account: str, password: Secret) -> ChangeResult:
        self.calls.append((account, password.reveal()))
        return ChangeResult(Outcome.CHANGED, f"Acme changed the password of {account}.")


ACME_RULES = PasswordRules(length=12, alphabet=ALNUM, min_length=12, max_length=12)


class AcmeGateway:
    provider = "acme"
    rules = ACME_RULES
    same_password_retry_is_safe = False

    def __init__(self, client: AcmeClient) -> None:
        self.client = client

    def execute(self, *, account: str, method: Method, new_password: Secret | None,
                secret_input: Secret | None) -> ChangeResult:
        assert method is Method.SET_PASSWORD and new_password is not None
        return self.client.set_password(account, new_password)

    def account_context(self, account: str, known_as: Sequence[str] = ()) -> LookupResult | None:
        return None

    def probe(self) -> LookupResult | None:
        return None


def build_acme_gateway(settings: AcmeSettings, *, session: requests.Session, budget: CallBudget) -> AcmeGateway:
    return AcmeGateway(AcmeClient(settings, session, budget))


ACME = ProviderPlugin(
    name="acme",
    label="Acme Hosting",
    methods=(Method.SET_PASSWORD,),
    account=AccountField(label="Account (Acme ID)", hint="acme- and 4 digits.", parse=acme_account),
    password_rules=ACME_RULES,
    same_password_retry_is_safe=False,
    env_variables=ACME_VARIABLES,
    enabled_by="ACME_API_TOKEN",
    settings_from_env=acme_from_env,
    build_gateway=build_acme_gateway,
)


@pytest.fixture
def acme_registered(monkeypatch):
    monkeypatch.setattr(registry, "PLUGINS", (*registry.PLUGINS, ACME))


@pytest.fixture
def clean_env(monkeypatch):
    """No provider variable from the machine running the tests leaks into `check`."""
    for plugin in (*registry.PLUGINS, ACME):
        for name in plugin.env_variables:
            monkeypatch.delenv(name, raising=False)
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "RESETBOT_APPROVALS_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_unregistered_the_provider_is_unknown_to_config():
    settings = Settings.from_env({"ACME_API_TOKEN": "t0ken", "ACME_API_URL": "https://api.acme.example"})
    assert settings.providers == {} and settings.problems == ()
    assert registry.by_name("acme") is None


def test_registered_config_reads_its_variables(acme_registered):
    settings = Settings.from_env({"ACME_API_TOKEN": "t0ken", "MOFH_API_USERNAME": "r", "MOFH_API_PASSWORD": "p"})
    assert settings.enabled_providers == ["mofh", "acme"]  # registry order
    assert settings.providers["acme"] == AcmeSettings("https://api.acme.example", Secret("t0ken"))
    assert "t0ken" not in repr(settings)
    assert registry.by_name("acme") is ACME and registry.names()[-1] == "acme"


def test_registered_its_problems_reach_check_and_run(acme_registered):
    settings = Settings.from_env({"ACME_API_URL": "https://api.acme.example"})
    assert settings.problems == (ACME_PROBLEM,)
    assert settings.providers == {}
    assert (
        "no provider is enabled: set MOFH_API_USERNAME and MOFH_API_PASSWORD, "
        "or NAMECHEAP_API_USER, NAMECHEAP_API_KEY and NAMECHEAP_CLIENT_IP, "
        "or CPANEL_API_URL, CPANEL_API_USERNAME and CPANEL_API_TOKEN, "
        "or PLESK_API_URL with PLESK_API_LOGIN and PLESK_API_PASSWORD (or PLESK_API_KEY), or ACME_API_TOKEN"
    ) in settings.problems_for_run(http=False)


def test_resetbot_check_names_its_problem_and_lists_it_enabled(acme_registered, clean_env, capsys, tmp_path):
    clean_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'check.db'}")
    clean_env.setenv("ACME_API_URL", "https://api.acme.example")
    assert cli.main(["check"]) == 2
    out = capsys.readouterr()
    assert ACME_PROBLEM in out.err.splitlines() and "providers enabled: none" in out.out

    clean_env.setenv("ACME_API_TOKEN", "t0ken")
    for name, value in (("SLACK_BOT_TOKEN", "xoxb-1"), ("SLACK_APP_TOKEN", "xapp-1"),
                        ("RESETBOT_APPROVALS_CHANNEL", "C0APPROVALS")):
        clean_env.setenv(name, value)
    assert cli.main(["check"]) == 0, capsys.readouterr().err
    assert "providers enabled: acme" in capsys.readouterr().out


def test_registered_the_composition_root_builds_its_gateway(acme_registered):
    settings = Settings(providers={"acme": AcmeSettings("https://api.acme.example", Secret("t0ken"))})
    gateways = make_providers(settings, sessions=None)
    assert list(gateways) == ["acme"]
    gateway = gateways["acme"]
    assert isinstance(gateway, AcmeGateway) and gateway.client.settings is settings.providers["acme"]
    assert isinstance(gateway.client.session, requests.Session)
    assert isinstance(gateway.client.budget, DatabaseCallBudget)


def test_unregistered_settings_for_it_are_refused_not_ignored():
    settings = Settings(providers={"acme": AcmeSettings("https://api.acme.example", Secret("t0ken"))})
    with pytest.raises(ValueError, match="acme"):
        make_providers(settings, sessions=None)


def test_registered_the_runtime_hands_its_gateway_to_the_workflow(acme_registered, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'acme.db'}", slack_bot_token=Secret("xoxb-test"),
                        approvals_channel="C0APPROVALS",
                        providers={"acme": AcmeSettings("https://api.acme.example", Secret("t0ken"))})
    runtime = build_runtime(settings)
    try:
        assert list(runtime.workflow.context.providers) == ["acme"]
        gateway = runtime.workflow.context.providers["acme"]
        assert isinstance(gateway, AcmeGateway) and gateway.rules is ACME_RULES
        result = gateway.execute(account="acme-0001", method=Method.SET_PASSWORD, new_password=Secret("p" * 12),
                                 secret_input=None)
        assert result.outcome is Outcome.CHANGED and gateway.client.calls == [("acme-0001", "p" * 12)]
    finally:
        runtime.shutdown(timeout=5)


def test_its_account_field_is_its_own():
    assert ACME.account.parse("acme-0042", None) == ParsedAccount("acme-0042")  # type: ignore[arg-type]
    assert ACME.account.parse("webq7k2m", None).error == "An Acme account is acme- and 4 digits."  # type: ignore[arg-type]
    assert ACME.method_from(None) is Method.SET_PASSWORD


# --- the modal, the workflow and the CLI see it through the registry alone -------------------------


@pytest.fixture
def acme_workflow(acme_registered, tmp_path):
    """The real workflow on a temp SQLite database, with Acme's own gateway (in process) as its one provider."""
    engine = make_engine(f"sqlite:///{tmp_path / 'acme-flow.db'}")
    migrate(engine)
    gateway = build_acme_gateway(AcmeSettings("https://api.acme.example", Secret("t0ken")),
                                 session=requests.Session(), budget=InProcessCallBudget())
    notifier = RecordingNotifier()
    flow = ResetWorkflow(sessions=make_sessionmaker(engine), providers={"acme": gateway},
                         sealer=Sealer(ephemeral_key()), notifier=notifier, executor=InlineExecutor())
    flow.admin.grant(ENGINEER, Role.REQUESTER, "acme", actor="test")
    flow.admin.grant(APPROVER, Role.APPROVER, "acme", actor="test")
    yield flow, gateway, notifier
    engine.dispose()


def acme_form(account: str = "acme-0042") -> RequestForm:
    return RequestForm(provider="acme", account=account, reason="The customer lost the Acme password.")


def test_registered_the_modal_offers_it_with_its_own_account_field(acme_workflow):
    flow, _, _ = acme_workflow
    offered = flow.intake.requestable_providers(ENGINEER)
    assert [(p.name, p.label) for p in offered] == [("acme", "Acme Hosting")]
    view = blocks.reset_modal(providers=offered, metadata={})
    by_block = {b["block_id"]: b for b in view["blocks"]}
    select = by_block[Ids.PROVIDER_BLOCK]["element"]
    assert [o["text"]["text"] for o in select["options"]] == ["Acme Hosting"]
    assert select["initial_option"]["value"] == "acme"  # the one provider offered is chosen
    account = by_block[Ids.ACCOUNT_BLOCK]
    assert (account["label"]["text"], account["hint"]["text"]) == ("Account (Acme ID)", "acme- and 4 digits.")
    assert Ids.METHOD_BLOCK not in by_block and Ids.SECRET_BLOCK not in by_block  # one method: nothing to choose

    everyone = blocks.reset_modal(providers=list(registry.catalog()), metadata={}, provider="acme")
    labels = [o["text"]["text"] for o in everyone["blocks"][0]["element"]["options"]]
    assert labels == ["MyOwnFreeHost", "Namecheap", "cPanel", "Plesk", "Acme Hosting"]
    assert everyone["blocks"][1]["label"]["text"] == "Account (Acme ID)"


def test_registered_the_workflow_checks_its_account_with_its_plugin(acme_workflow):
    flow, gateway, _ = acme_workflow
    with pytest.raises(InputErrors) as refused:
        flow.intake.submit(acme_form("webq7k2m"), requester_id=ENGINEER, source_view_id="V1")
    assert refused.value.errors == {"account": "An Acme account is acme- and 4 digits."}
    assert gateway.client.calls == []


def test_registered_a_request_goes_from_submit_to_a_changed_password(acme_workflow):
    flow, gateway, notifier = acme_workflow
    request, created = flow.intake.submit(acme_form(), requester_id=ENGINEER, source_view_id="V1")
    assert created and (request.provider, request.account, request.method) == ("acme", "acme-0042",
                                                                                Method.SET_PASSWORD)
    flow.intake.announce(request)
    assert "Acme Hosting" in blocks.card_text(request, catalog=flow.catalog)
    flow.decisions.approve(request.id, APPROVER)

    done = flow.lookups.get(request.id)
    assert done.status is Status.SUCCEEDED and done.outcome_message == "Acme changed the password of acme-0042."
    [(account, password)] = gateway.client.calls
    assert account == "acme-0042" and ACME_RULES.check(password) is None  # drawn by Acme's own rules
    # The requester's DM first; the card posted, then given its buttons once its place is stored
    # (bot/workflow/intake.py: announce, post_approval_card).
    assert notifier.kinds()[:4] == ["post_dm", "post_card", "update_card", "tell_requester"]
    assert "send_reveal" in notifier.kinds()
    assert blocks.requester_status(done, catalog=flow.catalog).startswith(
        "Done: the password for `acme-0042` at Acme Hosting was changed.")
    _, secret = flow.reveal.begin(notifier.reveal_button(done.id), ENGINEER)
    assert secret.reveal() == password


def test_registered_the_cli_accepts_its_name(acme_registered):
    assert cli._provider("ACME") == "acme"
    with pytest.raises(cli.UsageError, match="--provider must be mofh, namecheap, cpanel, plesk or acme"):
        cli._provider("directadmin")


def test_unregistered_the_cli_refuses_its_name():
    with pytest.raises(cli.UsageError, match=r"--provider must be mofh, namecheap, cpanel or plesk \(got 'acme'\)"):
        cli._provider("acme")
