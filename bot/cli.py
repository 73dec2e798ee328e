"""The `resetbot` console script (docs/CONTRACT.md "Commands").

Exit status: 0 success; 2 bad usage or bad configuration, with one line on stderr that
names the variable or argument. An operator mistake never prints a traceback.
"""

from __future__ import annotations

import argparse
import csv
import gc
import getpass
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, entry_points, version
from urllib.parse import urlsplit

from bot import logs
from bot.config import ConfigError, Settings
from bot.domain import DomainError, Role, ServiceUnavailable, is_user_group
from bot.policy import FIELDS, ApprovalPolicy, InvalidPolicy, format_duration, parse_duration
from bot.providers import registry
from bot.providers.mofh.account import ACCOUNT_KEY, VPANEL_USERNAME
from bot.sealing import KeyFileProblem, SealKeyProblem, key_beside_sqlite
from bot.secret import masked_url

log = logging.getLogger("resetbot")

# Sub-commands other installed packages add: the dev kit's demo and sandbox (pyproject.toml).
COMMAND_PLUGINS = "resetbot.commands"


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        argv = _read_env_file(argv)
    except UsageError as problem:
        print(f"resetbot: {problem}", file=sys.stderr)
        return 2
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


ENV_FILE = ".env"
# What `check` says of the environment file: which one was read, and how many of its variables took effect.
_env_file_read: tuple[str, int, int] | None = None


def _read_env_file(argv: list[str]) -> list[str]:
    """Read `--env-file PATH` (anywhere on the command line), else ./.env when there is one, into the environment:
    a variable already set wins (CONTRACT.md "Install and entry point"). Returns argv without the option."""
    global _env_file_read
    from dotenv import dotenv_values

    rest, given = [], None
    items = iter(argv)
    for item in items:
        if item == "--":
            rest += [item, *items]
            break
        if item == "--env-file":
            given = next(items, None)
            if given is None:
                raise UsageError("--env-file needs a PATH")
        elif item.startswith("--env-file="):
            given = item.split("=", 1)[1]
        else:
            rest.append(item)
    path = given if given is not None else ENV_FILE
    if given is None and not os.path.isfile(path):
        return rest
    if not os.path.isfile(path):
        raise UsageError(f"--env-file: {path} is not a file")
    try:
        values = dotenv_values(path, interpolate=False)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{'--env-file' if given else ENV_FILE}: cannot read {path} ({type(exc).__name__})") from None
    taken = 0
    for name, value in values.items():
        if value is not None and name not in os.environ:
            os.environ[name] = value
            taken += 1
    _env_file_read = (os.path.abspath(path), len(values), taken)
    return rest


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end with one line on stderr and exit 2 (CONTRACT), not argparse's usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _version() -> str:
    try:
        return version("resetbot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _actions(commands, name: str, help_: str) -> argparse._SubParsersAction:
    """A command made of actions (`roles grant`, …); without one it says so in one line and exits 2."""
    parser = commands.add_parser(name, help=help_)
    actions = parser.add_subparsers(metavar="ACTION")
    parser.set_defaults(handler=lambda args: _no_action(name, actions))
    return actions


def _no_action(name: str, actions: argparse._SubParsersAction) -> int:
    names = list(actions.choices)
    either = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    raise UsageError(f"{name}: give an ACTION: {either} (see resetbot {name} --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="resetbot", description="Slack bot that resets hosting passwords with "
                                                                  "approval, audit and a one-time reveal.",
                     epilog="Every command reads KEY=VALUE lines from ./.env when there is one, or from the file "
                            "given with --env-file PATH (anywhere on the command line); a variable already set in "
                            "the environment wins.")
    parser.add_argument("--version", action="version", version=f"resetbot {_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot (Socket Mode; --http for the HTTP endpoint)")
    run.add_argument("--http", action="store_true", help="serve POST /slack/events and GET /healthz")
    run.add_argument("--host", default="127.0.0.1", help="with --http: the address to listen on (default: %(default)s)")
    run.add_argument("--port", type=int, default=3000, help="with --http: the port to listen on (default: %(default)s)")
    run.set_defaults(handler=_run)

    providers = list(registry.names())
    roles = _actions(commands, "roles", "grant, revoke and list roles")
    for action in ("grant", "revoke"):
        sub = roles.add_parser(action, help=f"{action} a role (requester, approver or admin)",
                               description="SUBJECT is a Slack user ID (U…/W…) or a Slack user group ID (S…): "
                                           "a group's grant holds for whoever Slack lists as its members at "
                                           "the time of the click.")
        sub.add_argument("subject", metavar="SUBJECT", help="a Slack user ID (U…, W…) or user group ID (S…)")
        sub.add_argument("role", metavar="ROLE", type=str.lower, choices=[r.value for r in Role],
                         help="requester, approver or admin (admin implies both others)")
        sub.add_argument("--provider", type=str.lower, choices=providers,
                         help=f"only for this provider ({', '.join(providers)}); default: every provider")
        sub.set_defaults(handler=_roles_change, action=action)
    roles.add_parser("list", help="list every grant").set_defaults(handler=_roles_list)

    accounts = _actions(commands, "accounts", "the MyOwnFreeHost account directory")
    imp = accounts.add_parser("import", help="import account_key,vpanel_username,domain rows from a CSV file")
    imp.add_argument("file", metavar="FILE", help="a UTF-8 CSV file with the header account_key,vpanel_username,domain")
    imp.set_defaults(handler=_accounts_import)
    accounts.add_parser("list", help="list the directory").set_defaults(handler=_accounts_list)

    audit = _actions(commands, "audit", "the audit trail")
    export = audit.add_parser("export", help="write the audit trail to stdout, oldest first")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--since", help="ISO 8601 date or time")
    export.add_argument("--follow", action="store_true",
                        help="then keep printing events as they are recorded, one JSON line each, in the order "
                             "recorded (for a log shipper or SIEM); survives a database restart; SIGTERM or "
                             "SIGINT ends it")
    export.set_defaults(handler=_audit_export)
    audit.add_parser("verify", help="check the audit trail's hash chain: exit 0 when intact, 1 naming the first "
                                    "event changed, removed or inserted out of order").set_defaults(
        handler=_audit_verify)

    policies = _actions(commands, "policy", "show and change each provider's approval policy")
    show = policies.add_parser("show", help="the approval policy of each provider, as in effect now")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(handler=_policy_show)
    change = policies.add_parser("set", help="change one provider's policy; options not given keep their value",
                                 description="DUR is 90s, 15m, 2h or 0 (off). --escalate-to is a Slack user "
                                             "group (S…) or user (U…); `none` removes it.")
    change.add_argument("provider", metavar="PROVIDER",
                        help=f"the provider whose policy changes ({', '.join(providers)})")
    change.add_argument("--approvals", metavar="N", help="distinct approvers needed, 1 to 5")
    change.add_argument("--expire-after", metavar="DUR", help="a request without its approvals by then expires")
    change.add_argument("--remind-after", metavar="DUR", help="a reminder in the card's thread (0: none)")
    change.add_argument("--escalate-after", metavar="DUR", help="a reply mentioning --escalate-to (0: none)")
    change.add_argument("--escalate-to", metavar="ID", help="whose members may approve after escalation")
    change.add_argument("--requests-per-hour", metavar="N", help="per engineer in any 60 minutes (0: no cap)")
    change.set_defaults(handler=_policy_set)

    db = _actions(commands, "db", "the database schema")
    db.add_parser("upgrade", help="migrate the schema to the newest version (a deploy step before the replicas)"
                  ).set_defaults(handler=_db_upgrade)

    check = commands.add_parser("check", help="validate the configuration and print what is enabled")
    check.add_argument("--http", action="store_true", help="check it for `run --http` (default: Socket Mode, "
                                                           "unless only SLACK_SIGNING_SECRET is set)")
    check.add_argument("--connect", action="store_true", help="also ask Slack (auth.test, a Socket Mode session) "
                                                              "and each enabled provider (one read-only call)")
    check.set_defaults(handler=_check)
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


def _make_home(settings: Settings) -> None:
    """RESETBOT_HOME, created 0700 when missing and the SQLite database lives in it (an existing one is left as
    it is: a container's volume may be owned by someone else and still writable)."""
    from bot.sealing import sqlite_path

    path = sqlite_path(settings.database_url)
    if not settings.home or path is None or os.path.isdir(settings.home) \
            or not str(path).startswith(settings.home + os.sep):
        return
    try:
        os.makedirs(settings.home, mode=0o700)
    except OSError as exc:
        raise UsageError(f"RESETBOT_HOME: cannot create {settings.home} ({exc.strerror or type(exc).__name__})") \
            from None


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
    _make_home(settings)
    _key_file(settings, create=False)
    try:
        engine = make_engine(settings.database_url)
        migrate(engine)
    except Exception as exc:  # an unreachable or unwritable database is an operator problem
        raise UsageError(database_problem(exc, settings.database_url, "open")) from None
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
    if args.follow and args.format != "jsonl":
        raise UsageError("--follow writes JSON lines: leave out --format csv")
    admin = _admin()
    if args.follow:
        return _follow_audit(admin, since)
    writer = csv.writer(sys.stdout, quoting=csv.QUOTE_ALL) if args.format == "csv" else None
    if writer:
        writer.writerow(AUDIT_COLUMNS)
    for record in admin.audit_trail(since):
        row = _audit_row(record)
        if writer:
            writer.writerow([_csv_cell(json.dumps(row[c], sort_keys=True) if c == "detail" else row[c])
                             for c in AUDIT_COLUMNS])
        else:
            print(json.dumps(row, sort_keys=True))
    return 0


# An event's fields as exported; `seq` and `hash` place it in the hash chain (`resetbot audit verify`), so a copy
# kept elsewhere (a SIEM's) shows which events a database that was tampered with no longer has.
AUDIT_COLUMNS = ["id", "at", "actor_id", "action", "request_id", "provider", "account", "detail", "seq", "hash"]


def _audit_row(record) -> dict:
    return {"id": record.id, "at": record.at.isoformat(), "actor_id": record.actor_id, "action": record.action,
            "request_id": record.request_id, "provider": record.provider, "account": record.account,
            "detail": record.detail, "seq": record.seq, "hash": record.hash}


# `audit export --follow`: how often it asks for new events, how many it prints per question, and the longest wait
# between tries while the database does not answer.
FOLLOW_POLL_SECONDS = 1.0
FOLLOW_BATCH = 500
FOLLOW_RETRY_MAX_SECONDS = 30.0


def _follow_audit(admin, since: datetime | None) -> int:
    """Print every event (at or after `since`) in the order recorded, then each new one as it is recorded, until
    SIGTERM or SIGINT (exit 0). Resumes after the last event printed when the database answers again."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    last, retry_in, failing = 0, FOLLOW_POLL_SECONDS, False
    try:
        while not stop.is_set():
            try:
                records = admin.audit_after(last, since=since, limit=FOLLOW_BATCH)
            except Exception as exc:
                cause = _database_failure(exc)
                if cause is None:
                    raise
                if not failing:
                    print(f"resetbot: audit export --follow: the database is not answering ({cause}); retrying, "
                          f"then resuming after seq {last}", file=sys.stderr, flush=True)
                    failing = True
                stop.wait(retry_in)
                retry_in = min(retry_in * 2, FOLLOW_RETRY_MAX_SECONDS)
                continue
            if failing:
                print(f"resetbot: audit export --follow: the database answers again; resuming after seq {last}",
                      file=sys.stderr, flush=True)
                failing, retry_in = False, FOLLOW_POLL_SECONDS
            for record in records:
                print(json.dumps(_audit_row(record), sort_keys=True))
                last = record.seq
            sys.stdout.flush()
            if len(records) < FOLLOW_BATCH:
                stop.wait(FOLLOW_POLL_SECONDS)
    except BrokenPipeError:  # the reader (a log shipper) went away: nothing left to write to
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush does not fail too
    return 0


def _database_failure(exc: BaseException) -> str | None:
    """The cause, in the driver's words (secrets masked), when `exc` is the database failing; None otherwise."""
    chain: BaseException | None = exc
    seen = 0
    while chain is not None and seen < 10:
        if isinstance(chain, ServiceUnavailable) or type(chain).__module__.split(".")[0] in DATABASE_MODULES:
            inner = chain.__context__ if isinstance(chain, ServiceUnavailable) and chain.__context__ else chain
            words = str(getattr(inner, "orig", None) or inner).strip().splitlines()
            return logs.redact(words[0][:200]) if words else type(inner).__name__
        chain, seen = chain.__cause__ or chain.__context__, seen + 1
    return None


def _audit_verify(args) -> int:
    check = _admin().verify_audit_trail()
    if check.problem is not None:
        print(f"resetbot: audit verify: {check.events} events intact, then: {check.problem}", file=sys.stderr)
        return 1
    print(f"{check.events} events, chain intact")
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
        raise UsageError(database_problem(exc, settings.database_url, "open")) from None
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
    _make_home(settings)
    _key_file(settings, create=False)
    engine = None
    try:
        engine = make_engine(settings.database_url)
        before = schema_revision(engine)
        migrate(engine)
        after = schema_revision(engine)
    except Exception as exc:  # an unreachable or unwritable database is an operator problem
        raise UsageError(database_problem(exc, settings.database_url, "open or migrate")) from None
    finally:
        if engine is not None:
            engine.dispose()
    print(f"database schema at {after}" + (f" (was {before or 'empty'})" if before != after else ", already newest"))
    return 0


def _check(args) -> int:
    settings = Settings.from_env()
    http = args.http or (settings.slack_app_token is None and settings.slack_signing_secret is not None)

    def shown(variable: str, value: object) -> str:
        """A value as in effect, or "invalid" when the variable was refused (its default is not what was meant)."""
        return "invalid (see below)" if any(p.startswith(variable) for p in settings.problems) else str(value)

    if _env_file_read is None:
        print(f"environment file: none ({ENV_FILE} not found here; --env-file PATH reads another)")
    else:
        path, count, taken = _env_file_read
        print(f"environment file: {path} ({count} variables; {count - taken} of them already set, which win)")
    print(f"home: {settings.home} (RESETBOT_HOME)")
    print(f"database: {shown('DATABASE_URL', settings.database_shown)}")
    print(f"providers enabled: {', '.join(settings.enabled_providers) or 'none'}")
    print(f"transport: {'HTTP (run --http)' if http else 'Socket Mode'}")
    channel = "not set" if settings.approvals_channel is None else shown("RESETBOT_APPROVALS_CHANNEL",
                                                                          settings.approvals_channel)
    admins = shown("RESETBOT_ADMINS", len(settings.admins))
    print(f"approvals channel: {channel}; admins from RESETBOT_ADMINS: {admins}")
    print(f"approval TTL {shown('RESETBOT_APPROVAL_TTL', f'{settings.approval_ttl} s')}; "
          f"reveal TTL {shown('RESETBOT_REVEAL_TTL', f'{settings.reveal_ttl} s')}")
    problems = settings.problems_for_run(http=http)
    try:
        _key_file(settings, create=False)
    except UsageError as key_problem:
        problems.append(str(key_problem))
    else:
        if any(p.startswith("RESETBOT_SEAL_KEY") for p in settings.problems):
            print("seal keys: invalid (see below)")  # nothing is counted under keys that were refused
        else:
            _print_seal_keys(settings)
    if args.connect:
        if problems:
            print("connections: not tried until the configuration is right", file=sys.stderr)
        else:
            problems += _check_connect(settings, http=http)
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
    sealer = Sealer(key)
    print(f"seal key fingerprints: {', '.join(f'key {i + 1}: {f}' for i, f in enumerate(sealer.fingerprints))}")
    try:
        by_key = _sealed_by_key(settings, sealer)
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
              "first: keep every key until this is 0 (docs/operations.md \"Rotating the seal key\")")
    if count > 1 or older:
        print("rotation: two rolling restarts: first OLD,NEW on every replica (the new key second), then NEW,OLD; "
              "drop OLD only once every count above but key 1's is 0")


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



def _check_connect(settings: Settings, *, http: bool) -> list[str]:
    """`check --connect`: one harmless question to Slack and to each enabled provider; prints who answered,
    returns one problem per service that did not (naming the variable to look at)."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError, SlackClientError

    problems: list[str] = []
    assert settings.slack_bot_token is not None  # problems_for_run refused its absence
    web = WebClient(token=settings.slack_bot_token.reveal(), base_url=settings.slack_api_url, timeout=10)
    try:
        me = web.auth_test()
        print(f"Slack auth.test: answered: {me.get('user')} in {me.get('team')} ({settings.slack_api_url})")
    except SlackApiError as refused:
        problems.append(f"SLACK_BOT_TOKEN: Slack auth.test refused it ({refused.response.get('error')})")
    except (SlackClientError, OSError) as failure:
        problems.append(f"SLACK_API_URL: Slack did not answer auth.test at {settings.slack_api_url} "
                        f"({type(failure).__name__})")
    if not problems:
        problems += _check_approvals_channel(web, settings)
    if http:
        print("Slack Socket Mode: skipped (HTTP transport: Slack sends requests to the bot)")
    else:
        problems += _check_socket_mode(settings)
    problems += _check_database(settings)
    problems += _check_providers(settings)
    return problems


def _check_approvals_channel(client, settings: Settings) -> list[str]:
    """conversations.info: the approvals channel exists, is not archived, and the bot is in it (else every card
    is refused: CONTRACT.md "What a person sees")."""
    from slack_sdk.errors import SlackApiError, SlackClientError

    channel = settings.approvals_channel or ""
    try:
        info = client.conversations_info(channel=channel).get("channel") or {}
    except SlackApiError as refused:
        error = refused.response.get("error")
        if error == "channel_not_found":
            return [f"RESETBOT_APPROVALS_CHANNEL: Slack knows no channel {channel} the bot can see (a private "
                    "channel must /invite the bot first)"]
        return [f"RESETBOT_APPROVALS_CHANNEL: Slack conversations.info refused it ({error}); the bot needs the "
                "channels:read (and groups:read for a private channel) scope"]
    except (SlackClientError, OSError) as failure:
        return [f"SLACK_API_URL: Slack did not answer conversations.info ({type(failure).__name__})"]
    name = f"#{info.get('name')}" if info.get("name") else channel
    if info.get("is_archived"):
        return [f"RESETBOT_APPROVALS_CHANNEL: {name} ({channel}) is archived: unarchive it or choose another channel"]
    if not info.get("is_member"):
        return [f"RESETBOT_APPROVALS_CHANNEL: the bot is not a member of {name} ({channel}): /invite the bot there, "
                "or no approval card can be posted"]
    print(f"approvals channel: answered: {name} exists and the bot is a member")
    return []


def _check_database(settings: Settings) -> list[str]:
    """The database answers (a connection and SELECT 1), and its schema is the newest or can be migrated."""
    from bot.sealing import sqlite_path
    from storage.db import make_engine, schema_revision

    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        print(f"database: none yet at {path} (run or db upgrade creates it)")
        return []
    engine = None
    try:
        engine = make_engine(settings.database_url)
        revision = schema_revision(engine)
    except Exception as exc:  # check reports every problem; the driver's own words say which
        return [database_problem(exc, settings.database_url, "open")]
    finally:
        if engine is not None:
            engine.dispose()
    print(f"database: answered: {settings.database_shown} (schema {revision or 'empty: run resetbot db upgrade'})")
    return []


def _check_socket_mode(settings: Settings) -> list[str]:
    """Open a Socket Mode session (apps.connections.open and the WebSocket) and close it again."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError, SlackClientError
    from slack_sdk.socket_mode.builtin.client import SocketModeClient

    assert settings.slack_app_token is not None  # problems_for_run refused its absence
    client = SocketModeClient(app_token=settings.slack_app_token.reveal(), auto_reconnect_enabled=False,
                              web_client=WebClient(base_url=settings.slack_api_url, timeout=10))
    try:
        client.connect()
        deadline = time.monotonic() + 10
        while not client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not client.is_connected():
            return ["SLACK_APP_TOKEN: Slack gave a Socket Mode address, but the session did not open within 10 s"]
        print("Slack Socket Mode: answered: a session opened and closed")
        return []
    except SlackApiError as refused:
        return [f"SLACK_APP_TOKEN: Slack apps.connections.open refused it ({refused.response.get('error')})"]
    except (SlackClientError, OSError) as failure:
        return [f"SLACK_API_URL: no Socket Mode session could be opened ({type(failure).__name__})"]
    finally:
        client.close()


def _check_providers(settings: Settings) -> list[str]:
    """One read-only call per enabled provider that has one (the account lookup approvers see); never a change."""
    import requests

    from bot.providers import Outcome

    class NoBudget:  # one call: no shared rate limit to keep
        def try_acquire(self, key: str, *, limit: int, window_seconds: float) -> float:
            return 0.0

    problems: list[str] = []
    for plugin in registry.plugins():
        if plugin.name not in settings.providers:
            continue
        with requests.Session() as session:
            gateway = plugin.build_gateway(settings.providers[plugin.name], session=session, budget=NoBudget())
            result = gateway.probe()
        if result is None:
            print(f"{plugin.label}: skipped: the bot has no read-only call for it (it is called only to change "
                  "a password)")
        elif result.outcome in (Outcome.LOOKUP_OK, Outcome.LOOKUP_EMPTY):
            print(f"{plugin.label}: answered: a read-only account lookup ({result.outcome.value}, after "
                  f"{result.attempts} call(s))")
        else:
            problems.append(f"{plugin.label}: the account lookup did not answer as expected "
                            f"({result.outcome.value}): {result.message}")
    return problems


def _run(args) -> int:
    settings = Settings.from_env()
    problems = settings.problems_for_run(http=args.http)
    if problems:
        raise ConfigError(problems)
    _make_home(settings)
    _key_file(settings, create=True)
    logs.configure(log_format=settings.log_format)
    # From here the secrets live in Settings only: child processes do not inherit them, and
    # Bolt, which also reads SLACK_BOT_TOKEN, stops warning that the client's token wins.
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        os.environ.pop(name, None)
    from bot.app import build_runtime
    from bot.server import StartFailed, check_bot_token, serve_http, serve_socket_mode

    try:
        runtime = build_runtime(settings, http=args.http)
    except KeyFileProblem as problem:
        raise UsageError(str(problem)) from None
    except SealKeyProblem as problem:  # Settings refuse such a key first: this is the line behind that
        raise UsageError(f"RESETBOT_SEAL_KEY {problem}") from None
    except Exception as exc:
        raise UsageError(_start_up_failure(exc, settings.database_url)) from None
    logs.set_replica(runtime.workflow.context.replica_id)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        check_bot_token(runtime, http=args.http)
    except StartFailed as failed:
        runtime.shutdown(timeout=5)
        print(f"resetbot: {failed}", file=sys.stderr)
        return failed.status
    runtime.workflow.sweeper.sweep()  # resolve what a previous process left executing
    # Everything built so far (Bolt, SQLAlchemy, the migrations' modules) lives as long as the process: frozen
    # out of the collector's sight, a full collection no longer walks it while an ack waits (bench/ack_latency.py,
    # steady: the slowest /reset-password ack 32-41 ms before, 13-16 ms after).
    gc.collect()
    gc.freeze()
    runtime.start_sweeper()
    # Each drains (runtime.shutdown) while still answering /readyz with 503, then stops serving.
    try:
        drained = serve_http(runtime, args.host, args.port, stop) if args.http else serve_socket_mode(runtime, stop)
    except StartFailed as failed:
        runtime.shutdown(timeout=5)
        print(f"resetbot: {failed}", file=sys.stderr)
        return failed.status
    log.info("stopped%s", "" if drained else " (some provider calls were still running; the sweep will resolve them)")
    return 0


def database_problem(exc: BaseException, database_url: str, what: str) -> str:
    """One line for a database that would not answer: the driver's own words (psycopg's "Connection refused",
    "database … does not exist", "password authentication failed for user …"), on one line, with the URL's
    password and anything secret-looking masked."""
    from bot.logs import redact

    driver = getattr(exc, "orig", None) or exc
    words = " ".join(str(driver).split()) or type(driver).__name__
    try:
        password = urlsplit(database_url).password if "://" in database_url else None
    except ValueError:  # a URL urllib cannot split: masked_url still masks it below
        password = None
    if password:
        words = words.replace(password, "***")
    words = redact(words)
    if len(words) > 300:
        words = words[:299] + "…"
    where = f" {masked_url(database_url)}" if database_url else ""
    return f"DATABASE_URL: cannot {what} the database{where}: {words} ({type(driver).__name__})"


def _start_up_failure(exc: BaseException, database_url: str = "") -> str:
    """The one line for a start-up that failed: the database when it was the database's driver or migrations,
    else what failed, with an error id whose log line has the traceback."""
    chain: BaseException | None = exc
    seen = 0
    while chain is not None and seen < 10:
        if type(chain).__module__.split(".")[0] in DATABASE_MODULES:
            return database_problem(chain, database_url, "open or migrate")
        chain, seen = chain.__cause__ or chain.__context__, seen + 1
    error_id = os.urandom(4).hex()
    log.error("start-up failed (error id %s)", error_id, exc_info=(type(exc), exc, exc.__traceback__))
    return f"start-up failed: {type(exc).__name__} (error id {error_id}; the log has the traceback)"


# Where the database's errors come from (a module name only: the CLI imports no SQL).
DATABASE_MODULES = frozenset({"sqlalchemy", "alembic", "psycopg", "psycopg2", "sqlite3"})


if __name__ == "__main__":
    raise SystemExit(main())
