"""The `resetbot` console script (docs/CONTRACT.md "Commands").

Exit status: 0 success; 2 bad usage or bad configuration, with one line on stderr that
names the variable or argument. An operator mistake never prints a traceback.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import logging
import os
import re
import signal
import sys
import threading
from datetime import UTC, datetime
from importlib.metadata import entry_points

from bot import logs
from bot.config import ConfigError, Settings
from bot.domain import DomainError, Role, is_user_group
from bot.policy import FIELDS, ApprovalPolicy, InvalidPolicy, format_duration, parse_duration
from bot.providers import registry
from bot.providers.mofh.account import ACCOUNT_KEY, VPANEL_USERNAME
from bot.sealing import KeyFileProblem, key_beside_sqlite

log = logging.getLogger("resetbot")

# Sub-commands other installed packages add: the dev kit's demo and sandbox (pyproject.toml).
COMMAND_PLUGINS = "resetbot.commands"


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args) or 0
    except (UsageError, ConfigError, DomainError) as problem:
        print(f"resetbot: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end with one line on stderr and exit 2 (CONTRACT), not argparse's usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="resetbot", description="Slack bot that resets hosting passwords with "
                                                                  "approval, audit and a one-time reveal.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot (Socket Mode; --http for the HTTP endpoint)")
    run.add_argument("--http", action="store_true", help="serve POST /slack/events and GET /healthz")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=3000)
    run.set_defaults(handler=_run)

    roles = commands.add_parser("roles", help="grant, revoke and list roles").add_subparsers(metavar="ACTION")
    for action in ("grant", "revoke"):
        sub = roles.add_parser(action, help=f"{action} a role (requester, approver or admin)",
                               description="SUBJECT is a Slack user ID (U…/W…) or a Slack user group ID (S…): "
                                           "a group's grant holds for whoever Slack lists as its members at "
                                           "the time of the click.")
        sub.add_argument("subject", metavar="SUBJECT")
        sub.add_argument("role")
        sub.add_argument("--provider")
        sub.set_defaults(handler=_roles_change, action=action)
    roles.add_parser("list", help="list every grant").set_defaults(handler=_roles_list)

    accounts = commands.add_parser("accounts", help="the MyOwnFreeHost account directory").add_subparsers(
        metavar="ACTION")
    imp = accounts.add_parser("import", help="import account_key,vpanel_username,domain rows from a CSV file")
    imp.add_argument("file")
    imp.set_defaults(handler=_accounts_import)
    accounts.add_parser("list", help="list the directory").set_defaults(handler=_accounts_list)

    audit = commands.add_parser("audit", help="the audit trail").add_subparsers(metavar="ACTION")
    export = audit.add_parser("export", help="write the audit trail to stdout, oldest first")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--since", help="ISO 8601 date or time")
    export.set_defaults(handler=_audit_export)

    policies = commands.add_parser("policy", help="show and change each provider's approval policy"
                                   ).add_subparsers(metavar="ACTION")
    show = policies.add_parser("show", help="the approval policy of each provider, as in effect now")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(handler=_policy_show)
    change = policies.add_parser("set", help="change one provider's policy; options not given keep their value",
                                 description="DUR is 90s, 15m, 2h or 0 (off). --escalate-to is a Slack user "
                                             "group (S…) or user (U…); `none` removes it.")
    change.add_argument("provider", metavar="PROVIDER")
    change.add_argument("--approvals", metavar="N", help="distinct approvers needed, 1 to 5")
    change.add_argument("--expire-after", metavar="DUR", help="a request without its approvals by then expires")
    change.add_argument("--remind-after", metavar="DUR", help="a reminder in the card's thread (0: none)")
    change.add_argument("--escalate-after", metavar="DUR", help="a reply mentioning --escalate-to (0: none)")
    change.add_argument("--escalate-to", metavar="ID", help="whose members may approve after escalation")
    change.add_argument("--requests-per-hour", metavar="N", help="per engineer in any 60 minutes (0: no cap)")
    change.set_defaults(handler=_policy_set)

    db = commands.add_parser("db", help="the database schema").add_subparsers(metavar="ACTION")
    db.add_parser("upgrade", help="migrate the schema to the newest version (a deploy step before the replicas)"
                  ).set_defaults(handler=_db_upgrade)

    commands.add_parser("check", help="validate the configuration and print what is enabled").set_defaults(
        handler=_check)
    _add_plugin_commands(commands)  # last, so that a plug-in cannot take a built-in command's name
    return parser


def _add_plugin_commands(commands) -> None:
    """Each `resetbot.commands` entry point is a function that adds its sub-parser to `commands`.

    A plug-in that fails to load is named on stderr and left out; the other commands still work."""
    seen: set[str] = set()
    for entry in sorted(entry_points(group=COMMAND_PLUGINS), key=lambda e: e.name):
        if entry.name in seen:  # the same distribution found twice on sys.path
            continue
        seen.add(entry.name)
        try:
            entry.load()(commands)
        except Exception as exc:
            print(f"resetbot: command {entry.name!r} ({entry.value}) is unavailable: {type(exc).__name__}: {exc}",
                  file=sys.stderr)


# --- commands -------------------------------------------------------------------------------------


def _settings() -> Settings:
    settings = Settings.from_env()
    if settings.problems:
        raise ConfigError(list(settings.problems))
    return settings


def _key_file(settings: Settings, *, create: bool) -> None:
    """The seal key file beside a SQLite database, when RESETBOT_SEAL_KEY is not set: `run` creates it, every
    command refuses one that group or others can open or that holds no key (one line naming the file)."""
    if settings.seal_key is not None:
        return
    try:
        key_beside_sqlite(settings.database_url, create=create)
    except KeyFileProblem as problem:
        raise UsageError(str(problem)) from None


def _admin():
    """The admin use case for the operator commands: migrates, needs no Slack or provider credentials."""
    from bot.workflow.admin import Admin
    from bot.workflow.context import BaseContext
    from storage.db import make_engine, make_sessionmaker, migrate

    settings = _settings()
    _key_file(settings, create=False)
    try:
        engine = make_engine(settings.database_url)
        migrate(engine)
    except Exception as exc:  # an unreachable or unwritable database is an operator problem
        raise UsageError(f"DATABASE_URL: cannot open the database ({type(exc).__name__})") from None
    return Admin(BaseContext(sessions=make_sessionmaker(engine), admins=settings.admins))


def _role(value: str) -> Role:
    try:
        return Role(value.lower())
    except ValueError:
        raise UsageError(f"ROLE must be requester, approver or admin (got {value!r})") from None


def _provider(value: str | None) -> str | None:
    if value is None:
        return None
    names = registry.names()
    if value.lower() not in names:
        either = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise UsageError(f"--provider must be {either} (got {value!r})")
    return value.lower()


# A Slack user (U…), Enterprise Grid user (W…) or user group (S…) ID, as the role_assignments column holds it.
SUBJECT = re.compile(r"[UWS][A-Z0-9]{2,31}")
GROUP_NOTE = "(user group: whoever Slack lists as its members)"


def _subject(value: str) -> str:
    if not SUBJECT.fullmatch(value):
        raise UsageError("SUBJECT must be a Slack user ID such as U0123ABCD or a user group ID such as S0123ABCD "
                         f"(got {value!r})")
    return value


def _roles_change(args) -> int:
    subject, role, provider = _subject(args.subject), _role(args.role), _provider(args.provider)
    admin = _admin()
    scope = provider or "every provider"
    shown = f"{subject} {GROUP_NOTE}" if is_user_group(subject) else subject
    if args.action == "grant":
        changed = admin.grant(subject, role, provider, actor=_cli_actor())
        print(f"{'granted' if changed else 'already had'}: {shown} {role.value} for {scope}")
    else:
        changed = admin.revoke(subject, role, provider, actor=_cli_actor())
        print(f"{'revoked' if changed else 'had no such grant'}: {shown} {role.value} for {scope}")
    return 0


def _roles_list(args) -> int:
    admin = _admin()
    grants = admin.grants()
    for grant in sorted(grants, key=lambda g: g.to_group):  # people first, then user groups
        note = f"\t{GROUP_NOTE}" if grant.to_group else ""
        print(f"{grant.user_id}\t{grant.role.value}\t{grant.provider or '*'}{note}")
    for user in admin.configured_admins():
        print(f"{user}\tadmin\t*\t(RESETBOT_ADMINS)")
    return 0


def _accounts_import(args) -> int:
    try:
        with open(args.file, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            if header[:2] != ["account_key", "vpanel_username"]:
                raise UsageError(f"{args.file}: the header must be account_key,vpanel_username,domain")
            rows = []
            for number, row in enumerate(reader, start=2):
                key = (row.get("account_key") or "").strip()
                vpanel = (row.get("vpanel_username") or "").strip()
                domain = (row.get("domain") or "").strip().lower() or None
                if not ACCOUNT_KEY.match(key):
                    raise UsageError(f"{args.file} line {number}: account_key {key!r} is not 1-8 letters and digits")
                if not VPANEL_USERNAME.match(vpanel):
                    raise UsageError(f"{args.file} line {number}: vpanel_username {vpanel!r} is not like abcd_12345678")
                rows.append((key, vpanel, domain))
    except OSError as exc:
        raise UsageError(f"FILE: cannot read {args.file} ({exc.strerror})") from None
    except (UnicodeDecodeError, csv.Error):
        raise UsageError(f"FILE: {args.file} is not a UTF-8 CSV file") from None
    _admin().import_directory(rows, actor="cli")
    print(f"imported {len(rows)} accounts")
    return 0


def _accounts_list(args) -> int:
    for key, vpanel, domain in _admin().directory():
        print(f"{key}\t{vpanel}\t{domain or ''}")
    return 0


def _audit_export(args) -> int:
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise UsageError(f"--since must be an ISO 8601 date or time (got {args.since!r})") from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
    admin = _admin()
    columns = ["id", "at", "actor_id", "action", "request_id", "provider", "account", "detail"]
    writer = csv.writer(sys.stdout, quoting=csv.QUOTE_ALL) if args.format == "csv" else None
    if writer:
        writer.writerow(columns)
    for record in admin.audit_trail(since):
        row = {"id": record.id, "at": record.at.isoformat(), "actor_id": record.actor_id, "action": record.action,
               "request_id": record.request_id, "provider": record.provider, "account": record.account,
               "detail": record.detail}
        if writer:
            writer.writerow([_csv_cell(json.dumps(row[c], sort_keys=True) if c == "detail" else row[c])
                             for c in columns])
        else:
            print(json.dumps(row, sort_keys=True))
    return 0


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV Injection"):
# such a cell gets a leading ' (docs/CONTRACT.md), and every cell is quoted so no reader splits one.
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(CSV_FORMULA_STARTS) else text


def _policies():
    """The policies use case for `resetbot policy`: migrates, needs no Slack or provider credentials."""
    from bot.workflow.context import BaseContext
    from bot.workflow.policies import Policies
    from storage.db import make_engine, make_sessionmaker, migrate

    settings = _settings()
    _key_file(settings, create=False)  # as for every operator command (_admin)
    try:
        engine = make_engine(settings.database_url)
        migrate(engine)
    except Exception as exc:  # an unreachable or unwritable database is an operator problem
        raise UsageError(f"DATABASE_URL: cannot open the database ({type(exc).__name__})") from None
    defaults = ApprovalPolicy(expire_after=settings.approval_ttl, requests_per_hour=settings.requests_per_hour)
    return Policies(BaseContext(sessions=make_sessionmaker(engine), admins=settings.admins, default_policy=defaults))


# The option of each ApprovalPolicy field, for one-line mistakes that name what the operator typed.
POLICY_OPTIONS = {name: "--" + name.replace("_", "-") for name in FIELDS}


def _in_option_words(sentence: str) -> str:
    for name, option in POLICY_OPTIONS.items():
        sentence = sentence.replace(name, option)
    return sentence


def _policy_show(args) -> int:
    shown = _policies().all()
    if args.format == "json":
        print(json.dumps({name: rules.as_dict() for name, rules in shown.items()}, indent=2))
        return 0
    header = ("provider", "approvals", "expire-after", "remind-after", "escalate-after", "escalate-to",
              "requests-per-hour")
    rows = [header] + [(name, str(rules.approvals), format_duration(rules.expire_after),
                        format_duration(rules.remind_after), format_duration(rules.escalate_after),
                        rules.escalate_to or "none", str(rules.requests_per_hour or "no cap"))
                       for name, rules in shown.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _policy_set(args) -> int:
    names = registry.names()
    provider = args.provider.lower()
    if provider not in names:
        raise UsageError(f"PROVIDER must be {', '.join(names[:-1])} or {names[-1]} (got {args.provider!r})"
                         if len(names) > 1 else f"PROVIDER must be {names[0]} (got {args.provider!r})")
    changes: dict[str, object] = {}
    try:
        for name in ("approvals", "requests_per_hour"):
            raw = getattr(args, name)
            if raw is not None:
                if not (raw.isascii() and raw.isdigit()):
                    raise InvalidPolicy(name, f"{name} must be a whole number (got {raw!r})")
                changes[name] = int(raw)
        for name in ("expire_after", "remind_after", "escalate_after"):
            raw = getattr(args, name)
            if raw is not None:
                changes[name] = parse_duration(raw, name)
        if args.escalate_to is not None:
            changes["escalate_to"] = None if args.escalate_to.lower() in ("none", "") else args.escalate_to
        change = _policies().set(provider, changes, actor=_cli_actor())
    except InvalidPolicy as problem:
        raise UsageError(_in_option_words(str(problem)).rstrip(".")) from None
    if not change.changed:
        print(f"{provider}: no change")
        return 0
    for name in change.changed:
        old, new = getattr(change.old, name), getattr(change.new, name)
        print(f"{provider}: {POLICY_OPTIONS[name].removeprefix('--')} {_shown(name, old)} → {_shown(name, new)}")
    for loosening in change.weakened:
        print(f"{provider}: note: this loosens the policy ({loosening})")
    return 0


def _shown(name: str, value) -> str:
    if name in ("expire_after", "remind_after", "escalate_after"):
        return format_duration(value)
    if name == "requests_per_hour":
        return str(value) if value else "no cap"
    return "none" if value is None else str(value)


def _cli_actor() -> str:
    """Who runs an operator command, for the audit trail: "cli:" and the OS user."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment and no passwd entry (some containers)
        user = f"uid{os.getuid()}"
    return f"cli:{user}"[:64]


def _db_upgrade(args) -> int:
    from storage.db import make_engine, migrate, schema_revision

    settings = _settings()
    _key_file(settings, create=False)
    engine = None
    try:
        engine = make_engine(settings.database_url)
        before = schema_revision(engine)
        migrate(engine)
        after = schema_revision(engine)
    except Exception as exc:  # an unreachable or unwritable database is an operator problem
        raise UsageError(f"DATABASE_URL: cannot open or migrate the database ({type(exc).__name__})") from None
    finally:
        if engine is not None:
            engine.dispose()
    print(f"database schema at {after}" + (f" (was {before or 'empty'})" if before != after else ", already newest"))
    return 0


def _check(args) -> int:
    settings = Settings.from_env()
    http = settings.slack_app_token is None and settings.slack_signing_secret is not None
    print(f"database: {settings.database_shown}")
    print(f"providers enabled: {', '.join(settings.enabled_providers) or 'none'}")
    print(f"transport: {'HTTP (run --http)' if http else 'Socket Mode'}")
    channel_problem = any(p.startswith("RESETBOT_APPROVALS_CHANNEL") for p in settings.problems)
    channel = "not set" if settings.approvals_channel is None else "invalid" if channel_problem else \
        settings.approvals_channel
    print(f"approvals channel: {channel}; admins from RESETBOT_ADMINS: {len(settings.admins)}")
    print(f"approval TTL {settings.approval_ttl} s; reveal TTL {settings.reveal_ttl} s")
    problems = settings.problems_for_run(http=http)
    try:
        _key_file(settings, create=False)
    except UsageError as key_problem:
        problems.append(str(key_problem))
    else:
        _print_seal_keys(settings)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 2 if problems else 0


def _print_seal_keys(settings: Settings) -> None:
    """How many seal keys are configured, and how many stored sealed values each one sealed (rotation)."""
    from bot.sealing import Sealer, seal_keys

    key = settings.seal_key or key_beside_sqlite(settings.database_url, create=False)
    if key is None:
        print("seal keys: none yet (generated beside the SQLite database on the first run)")
        return
    count = len(seal_keys(key))
    source = "RESETBOT_SEAL_KEY" if settings.seal_key is not None else "the key file beside the database"
    print(f"seal keys: {count} from {source}" + (" (the first seals; every one opens)" if count > 1 else ""))
    try:
        by_key = _sealed_by_key(settings, Sealer(key))
    except Exception as exc:  # check reports; it never needs the database to be up
        print(f"sealed values: not counted (the database could not be read: {type(exc).__name__})")
        return
    if by_key is None:
        print("sealed values: none (no database yet)")
        return
    shown = [f"key {index + 1}: {by_key.get(index, 0)}" for index in range(count)]
    if by_key.get(None):
        shown.append(f"no configured key can tell: {by_key[None]}")
    print(f"sealed values: {', '.join(shown)}")
    older = sum(n for index, n in by_key.items() if index != 0)
    if older:
        print(f"note: {older} sealed value{'s are' if older != 1 else ' is'} still under a key that is not the "
              "first: keep every key until this is 0 (README \"Rotating the seal key\")")


def _sealed_by_key(settings: Settings, sealer):
    """Counter of key index → sealed values, or None when there is no database to look in (nothing is created)."""
    from bot.sealing import sqlite_path
    from bot.workflow.admin import Admin
    from bot.workflow.context import BaseContext
    from storage.db import make_engine, make_sessionmaker, schema_revision

    path = sqlite_path(settings.database_url)
    if settings.database_url.startswith("sqlite") and (path is None or not path.exists()):
        return None
    engine = make_engine(settings.database_url)
    try:
        if schema_revision(engine) is None:
            return None
        return Admin(BaseContext(sessions=make_sessionmaker(engine))).sealed_by_key(sealer)
    finally:
        engine.dispose()


def _run(args) -> int:
    settings = Settings.from_env()
    problems = settings.problems_for_run(http=args.http)
    if problems:
        raise ConfigError(problems)
    _key_file(settings, create=True)
    logs.configure(log_format=settings.log_format)
    # From here the secrets live in Settings only: child processes do not inherit them, and
    # Bolt, which also reads SLACK_BOT_TOKEN, stops warning that the client's token wins.
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        os.environ.pop(name, None)
    from bot.app import build_runtime
    from bot.server import serve_http, serve_socket_mode

    try:
        runtime = build_runtime(settings, http=args.http)
    except KeyFileProblem as problem:
        raise UsageError(str(problem)) from None
    except Exception as exc:
        raise UsageError(f"DATABASE_URL: cannot open or migrate the database ({type(exc).__name__})") from None
    logs.set_replica(runtime.workflow.context.replica_id)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runtime.workflow.sweeper.sweep()  # resolve what a previous process left executing
    runtime.start_sweeper()
    # Each drains (runtime.shutdown) while still answering /readyz with 503, then stops serving.
    drained = serve_http(runtime, args.host, args.port, stop) if args.http else serve_socket_mode(runtime, stop)
    log.info("stopped%s", "" if drained else " (some provider calls were still running; the sweep will resolve them)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
