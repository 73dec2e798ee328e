"""Settings for operating the bot (issue 11): secrets from NAME_FILE, several seal keys, the log format and the
health port; and the fixed vocabulary refusals are counted under (bot/metrics.py)."""

from __future__ import annotations

import base64
import contextlib
import os
import threading
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from bot import metrics, policy
from bot.config import FILE_VARIABLES, Settings
from bot.domain import Method, RefusalCode, Role, Status
from tests.unit.test_words import NOW, view

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "RESETBOT_APPROVALS_CHANNEL": "C0APPROVALS",
        "MOFH_API_USERNAME": "r", "MOFH_API_PASSWORD": "p"}


@pytest.mark.parametrize("name", FILE_VARIABLES)
def test_each_secret_is_read_from_its_file_with_the_trailing_newline_dropped(tmp_path, name):
    values = {"SLACK_BOT_TOKEN": "xoxb-from-file", "SLACK_APP_TOKEN": "xapp-from-file",
              "SLACK_SIGNING_SECRET": "signing-from-file", "DATABASE_URL": f"sqlite:///{tmp_path / 'f.db'}",
              "RESETBOT_SEAL_KEY": Fernet.generate_key().decode(), "MOFH_API_PASSWORD": "mofh-from-file",
              "NAMECHEAP_API_KEY": "nc-from-file", "CPANEL_API_TOKEN": "CPANELTOKENFROMFILE0123456789ABC",
              "PLESK_API_PASSWORD": "plesk-from-file", "PLESK_API_KEY": "plesk-key-from-file"}
    (tmp_path / "secret").write_text(values[name] + "\n")
    env = {k: v for k, v in BASE.items() if k != name} | {f"{name}_FILE": str(tmp_path / "secret")}
    if name == "NAMECHEAP_API_KEY":
        env |= {"NAMECHEAP_API_USER": "u", "NAMECHEAP_CLIENT_IP": "127.0.0.1"}
    if name == "CPANEL_API_TOKEN":
        env |= {"CPANEL_API_URL": "https://whm.example.net:2087", "CPANEL_API_USERNAME": "resellerbot"}
    if name.startswith("PLESK_"):
        env |= {"PLESK_API_URL": "https://plesk.example:8443"} | ({"PLESK_API_LOGIN": "admin"} if
                                                                  name == "PLESK_API_PASSWORD" else {})
    settings = Settings.from_env(env)
    assert settings.problems == ()
    read = {"SLACK_BOT_TOKEN": settings.slack_bot_token, "SLACK_APP_TOKEN": settings.slack_app_token,
            "SLACK_SIGNING_SECRET": settings.slack_signing_secret, "DATABASE_URL": settings.database_url,
            "RESETBOT_SEAL_KEY": settings.seal_key,
            "MOFH_API_PASSWORD": getattr(settings.providers.get("mofh"), "api_password", None),
            "NAMECHEAP_API_KEY": getattr(settings.providers.get("namecheap"), "api_key", None),
            "CPANEL_API_TOKEN": getattr(settings.providers.get("cpanel"), "api_token", None),
            "PLESK_API_PASSWORD": getattr(settings.providers.get("plesk"), "password", None),
            "PLESK_API_KEY": getattr(settings.providers.get("plesk"), "secret_key", None)}[name]
    assert (read if isinstance(read, str) else read.reveal()) == values[name]


def test_both_set_and_an_unreadable_file_are_problems_naming_the_variable(tmp_path):
    (tmp_path / "token").write_text("xoxb-2\n")
    both = Settings.from_env(BASE | {"SLACK_BOT_TOKEN_FILE": str(tmp_path / "token")})
    assert both.problems == ("SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE are both set: set one of them",)
    gone = Settings.from_env({k: v for k, v in BASE.items() if k != "SLACK_BOT_TOKEN"}
                             | {"SLACK_BOT_TOKEN_FILE": str(tmp_path / "absent")})
    assert gone.problems[0].startswith(f"SLACK_BOT_TOKEN_FILE: cannot read {tmp_path / 'absent'}")


def test_several_comma_separated_seal_keys_are_accepted_and_a_bad_one_is_named():
    keys = f"{Fernet.generate_key().decode()}, {Fernet.generate_key().decode()}"
    assert Settings.from_env(BASE | {"RESETBOT_SEAL_KEY": keys}).problems == ()
    bad = Settings.from_env(BASE | {"RESETBOT_SEAL_KEY": keys + ",nope"}).problems
    assert len(bad) == 1 and bad[0].startswith("RESETBOT_SEAL_KEY must be")


def test_log_format_and_health_port():
    settings = Settings.from_env(BASE | {"RESETBOT_LOG_FORMAT": "JSON", "RESETBOT_HEALTH_PORT": "9102"})
    assert (settings.log_format, settings.health_port, settings.problems) == ("json", 9102, ())
    assert Settings.from_env(BASE).health_port is None and Settings.from_env(BASE).log_format == "text"
    assert Settings.from_env(BASE | {"RESETBOT_LOG_FORMAT": "xml"}).problems[0].startswith("RESETBOT_LOG_FORMAT")


PENDING, ENGINEER_ID = view(Status.PENDING, None, Method.SET_PASSWORD), "U0ENGINEER1"


@pytest.mark.parametrize(("decision", "code"), [
    (policy.can_decide(ENGINEER_ID, {Role.APPROVER}, PENDING, NOW, "approve", provider_label="MyOwnFreeHost"),
     RefusalCode.SELF_DECISION),
    (policy.can_decide("U0OTHER0001", set(), PENDING, NOW, "deny", provider_label="MyOwnFreeHost"), RefusalCode.NO_ROLE),
    (policy.can_decide("U0OTHER0001", {Role.APPROVER}, PENDING, NOW + timedelta(hours=2), "approve",
                       provider_label="MyOwnFreeHost"), RefusalCode.EXPIRED),
    (policy.can_reveal("U0OTHER0001", PENDING, NOW), RefusalCode.NOT_REQUESTER),
    (policy.can_request(set(), "Namecheap"), RefusalCode.NO_ROLE),
])
def test_refusals_are_counted_under_a_fixed_code_never_their_sentence(decision, code):
    """Issue 21 item 5: the metric's reason label comes from the code each refusal carries, not from its words
    (which change with every rewording)."""
    assert not decision.allowed and decision.code is code
    before = metrics.REFUSALS.labels("approve", code.value)._value.get()
    metrics.count_refusal("approve_refused", decision.code)
    assert metrics.REFUSALS.labels("approve", code.value)._value.get() == before + 1
    assert not hasattr(metrics, "refusal_reason")  # nothing reads the sentence any more


# --------------------------------------------------------------------- what NAME_FILE may name (issue 20 item 6)

NO_TOKEN = {k: v for k, v in BASE.items() if k != "SLACK_BOT_TOKEN"}


def _from_env_within(env: dict[str, str], seconds: float = 10) -> Settings:
    """Settings.from_env(env) on a thread, failing (not hanging) when it does not return in time."""
    done: list[Settings] = []
    reader = threading.Thread(target=lambda: done.append(Settings.from_env(env)), daemon=True)
    reader.start()
    reader.join(seconds)
    if reader.is_alive():
        path = env["SLACK_BOT_TOKEN_FILE"]
        with contextlib.suppress(OSError):  # a writer that comes and goes lets a blocked open() return
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"Settings.from_env did not return within {seconds} s reading {path}")
    return done[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_at_once_never_waited_on(tmp_path):
    os.mkfifo(tmp_path / "token")
    settings = _from_env_within(NO_TOKEN | {"SLACK_BOT_TOKEN_FILE": str(tmp_path / "token")})
    assert settings.problems == (f"SLACK_BOT_TOKEN_FILE: {tmp_path / 'token'} is not a regular file (a named pipe)",)


@pytest.mark.parametrize("kind", ["device", "directory"])
def test_a_device_or_a_directory_is_refused_naming_the_variable(tmp_path, kind):
    path = "/dev/zero" if kind == "device" else str(tmp_path)
    if not os.path.exists(path):
        pytest.skip(f"no {path} here")
    settings = _from_env_within(NO_TOKEN | {"SLACK_BOT_TOKEN_FILE": path})
    what = "a character device" if kind == "device" else "a directory"
    assert settings.problems == (f"SLACK_BOT_TOKEN_FILE: {path} is not a regular file ({what})",)


def test_a_file_over_64_kib_is_refused_and_64_kib_is_read(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * (64 * 1024 + 1))
    big = Settings.from_env(NO_TOKEN | {"SLACK_BOT_TOKEN_FILE": str(tmp_path / "big")})
    assert big.problems == (f"SLACK_BOT_TOKEN_FILE: {tmp_path / 'big'} is larger than 64 KiB",)
    (tmp_path / "most").write_bytes(b"xoxb-" + b"x" * (64 * 1024 - 6) + b"\n")
    most = Settings.from_env(NO_TOKEN | {"SLACK_BOT_TOKEN_FILE": str(tmp_path / "most")})
    assert most.problems == () and len(most.slack_bot_token or "") == 64 * 1024 - 1


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="no /proc here")
def test_a_file_whose_size_says_nothing_is_read_no_further_than_64_kib():
    # A regular file by stat, of size 0, that reads as far more (it grows as it is read): only 64 KiB + 1 is read.
    with open("/proc/self/smaps", "rb") as handle:
        if len(handle.read(64 * 1024 + 1)) <= 64 * 1024:
            pytest.skip("/proc/self/smaps is small in this process")
    settings = Settings.from_env(NO_TOKEN | {"SLACK_BOT_TOKEN_FILE": "/proc/self/smaps"})
    assert settings.problems == ("SLACK_BOT_TOKEN_FILE: /proc/self/smaps is larger than 64 KiB",)


def test_a_symlink_to_a_regular_file_is_followed_as_a_kubernetes_secret_mount_has_them(tmp_path):
    # kubelet: NAME -> ..data/NAME, ..data -> ..2024_01_01_00_00_00.000000000/ (the real file inside)
    (tmp_path / "..2024_01_01").mkdir()
    (tmp_path / "..2024_01_01" / "token").write_text("xoxb-mounted\n")
    (tmp_path / "..data").symlink_to("..2024_01_01")
    (tmp_path / "token").symlink_to("..data/token")
    settings = Settings.from_env(NO_TOKEN | {"SLACK_BOT_TOKEN_FILE": str(tmp_path / "token")})
    assert settings.problems == () and settings.slack_bot_token.reveal() == "xoxb-mounted"
    (tmp_path / "dangling").symlink_to("nowhere")
    gone = Settings.from_env(NO_TOKEN | {"SLACK_BOT_TOKEN_FILE": str(tmp_path / "dangling")})
    assert gone.problems[0].startswith(f"SLACK_BOT_TOKEN_FILE: cannot read {tmp_path / 'dangling'}")


# --------------------------------------------------------------------- a seal key Fernet takes (issue 20 item 7)


def _standard_base64_key() -> str:
    """32 random bytes in standard base64 (with + or /): what `openssl rand -base64 32` prints."""
    while True:
        key = base64.b64encode(os.urandom(32)).decode()
        if "+" in key or "/" in key:
            return key


def test_a_key_in_standard_base64_is_refused_naming_the_variable_and_never_quoting_it():
    key = _standard_base64_key()
    problems = Settings.from_env(BASE | {"RESETBOT_SEAL_KEY": key}).problems
    assert problems == ("RESETBOT_SEAL_KEY must be url-safe base64 of 32 bytes, as Fernet.generate_key() prints: "
                        "this key is standard base64 (+ or /, where url-safe base64 has - and _)",)
    assert key not in problems[0] and key[:8] not in problems[0]


@pytest.mark.parametrize(("keys", "problem"), [
    (lambda good, std: f"{good},{std}", "the 2nd is standard base64 (+ or /, where url-safe base64 has - and _)"),
    (lambda good, std: f"{good}, {good}, not-a-key", "the 3rd is not"),
    (lambda good, std: f"nope,{good},", "the 1st is not; the 3rd is empty"),
], ids=["standard base64", "not a key", "empty"])
def test_each_of_several_keys_is_checked_and_the_bad_ones_named_by_position(keys, problem):
    value = keys(Fernet.generate_key().decode(), _standard_base64_key())
    problems = Settings.from_env(BASE | {"RESETBOT_SEAL_KEY": value}).problems
    assert problems == ("RESETBOT_SEAL_KEY must be url-safe base64 of 32 bytes, as Fernet.generate_key() prints, "
                        f"each of its comma-separated keys: {problem}",)


def test_a_key_from_its_file_is_refused_naming_the_file_variable(tmp_path):
    (tmp_path / "keys").write_text(f"{Fernet.generate_key().decode()},{_standard_base64_key()}\n")
    problems = Settings.from_env(BASE | {"RESETBOT_SEAL_KEY_FILE": str(tmp_path / "keys")}).problems
    assert len(problems) == 1 and problems[0].startswith("RESETBOT_SEAL_KEY_FILE must be url-safe base64 of 32 bytes")
    assert "the 2nd is standard base64" in problems[0]


def test_what_the_settings_accept_every_sealer_opens_with():
    from bot.sealing import Sealer, SealKeyProblem, seal_key_problem
    from bot.secret import Secret

    good = Fernet.generate_key().decode()
    for value in (good, f"{good}, {Fernet.generate_key().decode()}", _standard_base64_key(), good + "!", good[:-1],
                  f"{good},", good + "\n#"):
        accepted = Settings.from_env(BASE | {"RESETBOT_SEAL_KEY": value}).problems == ()
        assert accepted == (seal_key_problem(value) is None)
        try:
            Sealer(Secret(value))
        except SealKeyProblem as problem:
            assert not accepted and str(problem) == seal_key_problem(value)
        else:
            assert accepted
