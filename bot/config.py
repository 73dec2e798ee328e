"""Settings read once from the environment (docs/CONTRACT.md "Configuration").

`Settings.from_env()` collects every problem instead of stopping at the first, so
`resetbot check` can print one line per problem and `run` can refuse to start with
a line that names the variable. Each provider reads its own variables
(`bot/providers/<name>/settings.py`) as the registry lists it. No other module reads
`os.environ`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.policy import DEFAULT_APPROVAL_TTL, DEFAULT_REQUESTS_PER_HOUR, DEFAULT_REVEAL_TTL, MAX_REQUESTS_PER_HOUR
from bot.providers import registry
from bot.providers.plugin import env_text, url_problem
from bot.sealing import seal_key_problem
from bot.secret import Secret, masked_url

DEFAULT_DATABASE_URL = "sqlite:///resetbot.db"  # relative: inside RESETBOT_HOME (Settings.from_env)
DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class ConfigError(Exception):
    """One or more configuration problems; each line names the variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def postgres_driver_problem(database_url: str) -> str | None:
    """The line for a PostgreSQL URL whose driver is not installed (the runtime installs without it: the extra
    `postgres` brings psycopg); None when it is there or the URL is not PostgreSQL's. Found, not imported."""
    import importlib.util

    scheme = database_url.partition(":")[0]
    if not scheme.startswith("postgresql"):
        return None
    driver = scheme.partition("+")[2] or "psycopg2"  # SQLAlchemy's default for a bare postgresql://
    try:
        if importlib.util.find_spec(driver) is not None:
            return None
    except (ImportError, ValueError):  # a broken or half-imported package is no driver either
        pass
    if driver == "psycopg":
        return ("DATABASE_URL is a PostgreSQL URL, but its driver psycopg is not installed: "
                "pip install 'resetbot[postgres]'")
    return (f"DATABASE_URL asks for the PostgreSQL driver {driver}, which is not installed: write "
            "postgresql+psycopg://… and pip install 'resetbot[postgres]'")


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    slack_bot_token: Secret | None = None
    slack_app_token: Secret | None = None
    slack_signing_secret: Secret | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    approvals_channel: str | None = None
    admins: frozenset[str] = frozenset()
    seal_key: Secret | None = None
    reveal_ttl: int = DEFAULT_REVEAL_TTL
    approval_ttl: int = DEFAULT_APPROVAL_TTL
    execution_lease: int = 30
    sweep_interval: int = 10
    requests_per_hour: int = DEFAULT_REQUESTS_PER_HOUR  # RESETBOT_REQUESTS_PER_HOUR: each provider's cap; 0 = none
    health_port: int | None = None  # RESETBOT_HEALTH_PORT: Socket Mode's /healthz, /readyz, /metrics (0: any free port)
    home: str = ""  # RESETBOT_HOME, absolute: the SQLite database and its generated key file live here
    health_host: str = "127.0.0.1"  # RESETBOT_HEALTH_HOST: the address the health listener binds (0.0.0.0 in the image)
    log_format: str = "text"  # RESETBOT_LOG_FORMAT: text or json
    # Provider name → that plugin's settings, for the enabled providers only, in registry order.
    providers: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "providers", MappingProxyType(dict(self.providers)))

    def __repr__(self) -> str:
        """The dataclass repr with the database password masked (the Secret fields mask themselves)."""
        def value(name: str) -> str:
            if name == "database_url":
                return repr(masked_url(self.database_url))
            if name == "approvals_channel" and self.approvals_channel:
                return shown_value(self.approvals_channel)
            if name == "admins":
                return "{" + ", ".join(shown_value(a) for a in sorted(self.admins)) + "}"
            return repr(getattr(self, name))

        return f"{type(self).__name__}({', '.join(f'{f.name}={value(f.name)}' for f in fields(self) if f.repr)})"

    @property
    def database_shown(self) -> str:
        """DATABASE_URL as `check` and logs may show it: any password masked."""
        return masked_url(self.database_url)

    @property
    def enabled_providers(self) -> list[str]:
        return list(self.providers)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse the environment; problems are kept in `.problems`, not raised (see `require`)."""
        env = os.environ if env is None else env
        problems: list[str] = []
        given, env = env, _with_secret_files(env, problems)

        def source(name: str) -> str:
            """The variable a value came from: NAME, or NAME_FILE when it was read from the file."""
            from_file = env_text(given, name) is None and env_text(given, name + "_FILE") is not None
            return name + "_FILE" if from_file else name

        def text(name: str) -> str | None:
            return env_text(env, name)

        def seconds(name: str, default: int) -> int:
            raw = text(name)
            if raw is None:
                return default
            if not raw.isdigit() or int(raw) <= 0:
                problems.append(f"{name} must be a whole number of seconds above 0 (got {got(raw)})")
                return default
            return int(raw)

        def secret(name: str) -> Secret | None:
            raw = text(name)
            return Secret(raw) if raw else None

        # What a problem line may quote back: never a value that may be a secret pasted into the wrong variable.
        known_secrets = [value for name in SECRET_VARIABLES if (value := text(name)) and len(value) >= 6]

        def got(raw: str) -> str:
            return shown_value(raw, known_secrets)

        slack_api_url = text("SLACK_API_URL") or DEFAULT_SLACK_API_URL
        bad_url = url_problem("SLACK_API_URL", slack_api_url)
        if bad_url:
            problems.append(bad_url)
        elif not slack_api_url.endswith("/api/"):
            problems.append("SLACK_API_URL must end in /api/ (as https://slack.com/api/ does)")

        seal_key = secret("RESETBOT_SEAL_KEY")
        if seal_key is not None and (bad_key := seal_key_problem(seal_key.reveal())) is not None:
            problems.append(f"{source('RESETBOT_SEAL_KEY')} {bad_key}")  # the test `run` meets: the same in check

        bot_token = secret("SLACK_BOT_TOKEN")
        if bot_token is not None and not bot_token.reveal().startswith("xoxb-"):
            problems.append("SLACK_BOT_TOKEN must be a bot token starting with xoxb-" + _kind_of(bot_token))
        app_token = secret("SLACK_APP_TOKEN")
        if app_token is not None and not app_token.reveal().startswith("xapp-"):
            problems.append("SLACK_APP_TOKEN must be an app-level token starting with xapp-" + _kind_of(app_token))

        channel = text("RESETBOT_APPROVALS_CHANNEL")
        if channel is not None and channel[:1] not in ("C", "G"):
            problems.append(f"RESETBOT_APPROVALS_CHANNEL must be a channel ID such as C0123ABCD (got {got(channel)})")

        admins = frozenset(a.strip() for a in (text("RESETBOT_ADMINS") or "").split(",") if a.strip())
        for admin in sorted(admins):
            if admin[:1] not in ("U", "W"):
                problems.append(f"RESETBOT_ADMINS holds {got(admin)}, which is not a Slack user ID (U…)")

        providers: dict[str, Any] = {}
        for plugin in registry.plugins():
            cfg, found = plugin.settings_from_env(env)
            problems.extend(found)
            if cfg is not None:
                providers[plugin.name] = cfg

        home = resetbot_home(env)
        database_url = in_home(text("DATABASE_URL") or DEFAULT_DATABASE_URL, home)
        if not database_url.startswith(("sqlite", "postgresql")):
            problems.append("DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL")
        elif (driver := postgres_driver_problem(database_url)) is not None:
            problems.append(driver)
        if database_url.startswith("postgresql") and seal_key is None:
            problems.append("RESETBOT_SEAL_KEY is required with PostgreSQL (every replica must share it)")

        requests_per_hour = DEFAULT_REQUESTS_PER_HOUR
        if (raw_cap := text("RESETBOT_REQUESTS_PER_HOUR")) is not None:
            if raw_cap.isascii() and raw_cap.isdigit() and int(raw_cap) <= MAX_REQUESTS_PER_HOUR:
                requests_per_hour = int(raw_cap)
            else:
                problems.append(f"RESETBOT_REQUESTS_PER_HOUR must be a whole number of requests from 0 (no cap) "
                                f"to {MAX_REQUESTS_PER_HOUR} (got {raw_cap!r})")

        health_port = None
        if (raw_port := text("RESETBOT_HEALTH_PORT")) is not None:
            if raw_port.isascii() and raw_port.isdigit() and int(raw_port) <= 65535:
                health_port = int(raw_port)
            else:
                problems.append(f"RESETBOT_HEALTH_PORT must be a TCP port number from 1 to 65535 (got {got(raw_port)})")
        health_host = text("RESETBOT_HEALTH_HOST") or "127.0.0.1"
        if not _is_address(health_host):
            problems.append(f"RESETBOT_HEALTH_HOST must be an IP address to bind, such as 127.0.0.1 or 0.0.0.0 "
                            f"(got {got(health_host)})")
            health_host = "127.0.0.1"
        log_format = (text("RESETBOT_LOG_FORMAT") or "text").lower()
        if log_format not in LOG_FORMATS:
            problems.append(f"RESETBOT_LOG_FORMAT must be text or json (got {got(log_format)})")
            log_format = "text"

        return cls(
            database_url=database_url,
            slack_bot_token=bot_token,
            slack_app_token=app_token,
            slack_signing_secret=secret("SLACK_SIGNING_SECRET"),
            slack_api_url=slack_api_url,
            approvals_channel=channel,
            admins=admins,
            seal_key=seal_key,
            reveal_ttl=seconds("RESETBOT_REVEAL_TTL", DEFAULT_REVEAL_TTL),
            approval_ttl=seconds("RESETBOT_APPROVAL_TTL", DEFAULT_APPROVAL_TTL),
            execution_lease=seconds("RESETBOT_EXECUTION_LEASE", 30),
            sweep_interval=seconds("RESETBOT_SWEEP_INTERVAL", 10),
            requests_per_hour=requests_per_hour,
            health_port=health_port,
            health_host=health_host,
            home=str(home),
            log_format=log_format,
            providers=providers,
            problems=tuple(problems),
        )

    def problems_for_run(self, *, http: bool) -> list[str]:
        """Everything that stops `resetbot run` (or `run --http`) from starting."""
        problems = list(self.problems)
        if self.slack_bot_token is None:
            problems.append("SLACK_BOT_TOKEN is required for run")
        if http and self.slack_signing_secret is None:
            problems.append("SLACK_SIGNING_SECRET is required for run --http")
        if not http and self.slack_app_token is None:
            problems.append("SLACK_APP_TOKEN is required for run in Socket Mode (or use run --http)")
        if self.approvals_channel is None:
            problems.append("RESETBOT_APPROVALS_CHANNEL is required for run")
        if not self.enabled_providers:
            problems.append("no provider is enabled: set " + ", or ".join(p.enabled_by for p in registry.plugins()))
        return problems


# The variables whose values are secrets: never quoted back in a problem line, whatever variable they turn up in.
SECRET_VARIABLES = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "RESETBOT_SEAL_KEY",
                    "MOFH_API_PASSWORD", "NAMECHEAP_API_KEY", "CPANEL_API_TOKEN", "PLESK_API_PASSWORD", "PLESK_API_KEY")
# The variables that may instead be read from a file named by NAME_FILE (container secret mounts).
FILE_VARIABLES = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL", "RESETBOT_SEAL_KEY",
                  "MOFH_API_PASSWORD", "NAMECHEAP_API_KEY", "CPANEL_API_TOKEN", "PLESK_API_PASSWORD", "PLESK_API_KEY")
LOG_FORMATS = ("text", "json")
_TOKEN_LIKE = re.compile(r"^(?:xox[a-z]|xapp|xwf[a-z])-", re.IGNORECASE)
_TOKEN_KINDS = {"xoxb-": "a bot token", "xapp-": "an app-level token", "xoxp-": "a user token"}
_LONGEST_SHOWN = 40
NOT_SHOWN = "a value withheld as it may be a secret"


def shown_value(raw: str, secrets: Iterable[str] = ()) -> str:
    """`raw` quoted for a problem line, or a phrase saying it is withheld: a Slack token, a long
    opaque string, or anything holding one of the configured secrets is never echoed."""
    if _TOKEN_LIKE.match(raw) or len(raw) > _LONGEST_SHOWN or any(value in raw for value in secrets):
        return NOT_SHOWN
    return repr(raw)


def _kind_of(token: Secret) -> str:
    """Which kind of token was given instead, by its prefix only (the value is never shown)."""
    value = token.reveal()
    kind = next((name for prefix, name in _TOKEN_KINDS.items() if value.startswith(prefix)), None)
    return f" (this one starts like {kind})" if kind else ""


def _with_secret_files(env: Mapping[str, str], problems: list[str]) -> Mapping[str, str]:
    """`env` with each NAME_FILE of FILE_VARIABLES read into NAME (one trailing newline dropped).

    Both set, or a file that cannot be read, is not a regular file or is larger than 64 KiB, is a problem naming
    the variable (never what the file holds).
    """
    named = {name: path for name in FILE_VARIABLES if (path := (env.get(name + "_FILE") or "").strip())}
    if not named:
        return env
    resolved = dict(env)
    for name, path in named.items():
        if env_text(env, name) is not None:
            problems.append(f"{name} and {name}_FILE are both set: set one of them")
            continue
        value, problem = _read_secret_file(path)
        if problem is not None:
            problems.append(f"{name}_FILE: {problem}")
        elif value is not None:
            resolved[name] = value.removesuffix("\n").removesuffix("\r")
    return resolved


def resetbot_home(env: Mapping[str, str]) -> Path:
    """RESETBOT_HOME, else $XDG_STATE_HOME/resetbot, else ~/.local/state/resetbot; always absolute."""
    if given := env_text(env, "RESETBOT_HOME"):
        return Path(given).expanduser().absolute()
    state = env_text(env, "XDG_STATE_HOME")
    base = Path(state).expanduser() if state else Path(env.get("HOME") or Path.home()) / ".local" / "state"
    return (base / "resetbot").absolute()


def in_home(database_url: str, home: Path) -> str:
    """A SQLite URL with a relative path made absolute inside `home` (the same database from any folder)."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return database_url
    path, query = (database_url[len(prefix):].split("?", 1) + [""])[:2]
    if path in ("", ":memory:") or path.startswith("/"):
        return database_url
    return f"{prefix}{home / path}" + (f"?{query}" if query else "")


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


SECRET_FILE_LIMIT = 64 * 1024  # bytes: far more than any token, key or URL; a mistaken path is refused at once
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _not_regular(path: str, mode: int) -> str:
    kind = next((what for test, what in _FILE_KINDS if test(mode)), "something else")
    return f"{path} is not a regular file ({kind})"


def _read_secret_file(path: str) -> tuple[str | None, str | None]:
    """(the text of `path`, None), or (None, the problem in words).

    A regular file only (symlinks followed, as a Kubernetes secret mount has them), of at most 64 KiB: a named
    pipe would block the read, a device or a huge file fill the memory. The file is opened non-blocking and
    checked again once open (it may have been swapped), and no more than the limit and one byte is read (a
    file may grow, or say nothing of its size, as /proc files do)."""
    try:
        found = os.stat(path)
        if not stat.S_ISREG(found.st_mode):
            return None, _not_regular(path, found.st_mode)
        if found.st_size > SECRET_FILE_LIMIT:
            return None, f"{path} is larger than 64 KiB"
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            opened = os.fstat(handle.fileno())
            if not stat.S_ISREG(opened.st_mode):
                return None, _not_regular(path, opened.st_mode)
            data = handle.read(SECRET_FILE_LIMIT + 1)
    except OSError as exc:
        return None, f"cannot read {path} ({exc.strerror or type(exc).__name__})"
    if len(data) > SECRET_FILE_LIMIT:
        return None, f"{path} is larger than 64 KiB"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, f"{path} is not UTF-8 text"


__all__ = ["ConfigError", "Settings", "masked_url", "shown_value"]
