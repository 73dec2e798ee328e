import logging

import pytest

from bot import logs
from bot.logs import RedactingFilter, redact, shape_only


def test_redact_masks_secret_pairs_and_tokens():
    line = "pass=Xq7vN2mLp9 NewPassword: 'zz9abc' token=xoxb-1-2-3 app xapp-1-A0-99 api_key=K9key user=webq7k2m"
    clean = redact(line)
    for secret in ("Xq7vN2mLp9", "zz9abc", "xoxb-1-2-3", "xapp-1-A0-99", "K9key"):
        assert secret not in clean
    assert "user=webq7k2m" in clean


def test_filter_rewrites_the_record_and_its_traceback():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed with password=%s", ("hunter22",), None)
    try:
        raise ValueError("token=xoxb-secret-1")
    except ValueError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    RedactingFilter().filter(record)
    assert "hunter22" not in record.getMessage() and "xoxb-secret-1" not in (record.exc_text or "")


def test_redact_masks_url_encoded_json_and_json_pairs():
    line = ("body: payload=%7B%22type%22%3A+%22view_submission%22%2C+%22reset_code%22%3A+%22C0de5ecret%22%7D "
            '{"password": "two words", "api_key": \'K9\'} reset_code%253DDoubleEnc0ded')
    clean = redact(line)
    for secret in ("C0de5ecret", "two words", "K9", "DoubleEnc0ded"):
        assert secret not in clean, clean
    assert '"type": "view_submission"' in clean  # decoded, so the rest stays readable


def test_a_library_record_keeps_its_shape_and_loses_every_value():
    # What slack_sdk logs at DEBUG for the reveal modal, and Bolt at INFO for a forged request.
    views_open = ("Sending a request - url: http://127.0.0.1:1/api/views.open, json_body: {'view': {'type': 'modal', "
                  "'blocks': [{'type': 'section', 'text': {'type': 'mrkdwn', 'text': \"it's `Xq7vN2mLp9`\"}}]}}")
    forged = ("Invalid request signature detected (signature: v0=00ff, timestamp: 1700000000, "
              "body: payload=%7B%22view%22%3A+%7B%22state%22%3A+%7B%22v%22%3A+%22C0de5ecret%22%7D%7D%7D&x=1)")
    envelope = ('on_message invoked: (message: {"payload": {"state": {"values": {"b": {"a": '
                '{"type": "plain_text_input", "value": "Curr~Secret"}}}}}, "retry_attempt": 0})')
    for text, secret in ((views_open, "Xq7vN2mLp9"), (forged, "C0de5ecret"), (envelope, "Curr~Secret")):
        record = logging.LogRecord("slack_sdk.web.base_client", logging.DEBUG, __file__, 1, "%s", (text,), None)
        RedactingFilter().filter(record)
        assert secret not in record.getMessage()
    assert "'blocks': [{'type': ***" in shape_only(views_open) and "url: http://127.0.0.1:1/api/views.open" in \
        shape_only(views_open)
    # Our own records keep their quoted words; only secret-looking pairs go.
    ours = logging.LogRecord("resetbot", logging.INFO, __file__, 1, "account %r: password=%s", ("webq7k2m", "pw1"), None)
    RedactingFilter().filter(ours)
    assert ours.getMessage() == "account 'webq7k2m': password=***"


def test_after_configure_every_handler_sees_clean_records_even_with_libraries_at_debug():
    class Keep(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.texts = []

        def emit(self, record):
            self.texts.append(self.format(record))

    logger = logging.getLogger("slack_bolt.RequestVerification")
    level = logger.level
    keep = Keep()  # an operator's own handler, on the library's logger: our filter is not on it
    logs.configure(logging.WARNING)
    logger.setLevel(logging.DEBUG)
    logger.addHandler(keep)
    try:
        logger.info("Invalid request signature detected (signature: v0=1, timestamp: 1, body: %s)",
                    "payload=%7B%22reset_code%22%3A%22C0de5ecret%22%7D")
        try:
            raise ValueError("token=xoxb-1-secret")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(keep)
        logger.setLevel(level)
    assert len(keep.texts) == 2
    assert all("C0de5ecret" not in t and "xoxb-1-secret" not in t for t in keep.texts), keep.texts


def test_json_lines_carry_the_ids_only_our_fields_and_redacted_tracebacks():
    import io
    import json

    from bot.logs import IdsFilter, JsonLines

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.addFilter(IdsFilter())
    handler.setFormatter(JsonLines())
    log = logging.getLogger("resetbot.test_json")
    log.addHandler(handler)
    log.propagate = False
    logs.set_replica("host-7")
    try:
        with logs.bound(request_id="rr_00112233445566778899"):
            log.warning("renewing the lease, password=hunter22", extra={"body": "ZZZleaked-extra"})
        try:
            raise ValueError("token=xoxb-secret-1")
        except ValueError:
            log.exception("unexpected failure (error id 0a1b2c3d)")
    finally:
        log.removeHandler(handler)
        logs.set_replica(None)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert set(first) == {"time", "level", "logger", "message", "request_id", "replica_id"}
    assert (first["level"], first["logger"], first["request_id"], first["replica_id"]) == \
        ("WARNING", "resetbot.test_json", "rr_00112233445566778899", "host-7")
    assert "hunter22" not in stream.getvalue() and "ZZZleaked-extra" not in stream.getvalue()
    assert second["error_id"] == "0a1b2c3d" and "ValueError" in second["exc_info"]
    assert "xoxb-secret-1" not in second["exc_info"]


# --------------------------------------------------------------------- the password of a URL (issue 20 item 5)

PROXY = "http://relay:ZZZpr0xyPw@127.0.0.1:3128"


def _records_with_a_url(name: str) -> list[logging.LogRecord]:
    """The URL in the message, in its args, in its traceback, in an extra= field: as any library may log it."""
    logger = logging.getLogger(name)
    made: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            made.append(record)

    keep, level, propagate = Keep(logging.DEBUG), logger.level, logger.propagate
    logger.addHandler(keep)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        logger.error(f"Failed to connect to the proxy (proxy: {PROXY}, connect status code: 407)")
        logger.debug("HTTP proxy URL has been loaded from an env variable: %s", PROXY)
        logger.warning("%(what)s via %(proxy)r", {"what": "retrying", "proxy": PROXY})
        try:
            raise OSError(f"Tunnel connection failed: 407 (proxy: {PROXY})")
        except OSError:
            logger.exception("reconnecting")
        logger.info("connected", extra={"request_id": PROXY})
    finally:
        logger.removeHandler(keep)
        logger.setLevel(level)
        logger.propagate = propagate
    return made


@pytest.mark.parametrize("name", ["slack_sdk.socket_mode.builtin.connection", "slack_bolt.App", "urllib3",
                                  "websocket", "sqlalchemy.engine.Engine", "", "resetbot.server"])
def test_a_urls_password_is_masked_in_every_record_of_any_logger_at_any_level(name):
    logs.configure(logging.WARNING)  # the record factory, as `resetbot run` installs it
    records = _records_with_a_url(name)
    assert len(records) == 5
    text_format, json_format = logging.Formatter("%(levelname)s %(name)s: %(message)s"), logs.JsonLines()
    for record in records:
        RedactingFilter().filter(record)  # our stderr handler's filter: the extra= fields too
        for shown in (record.getMessage(), text_format.format(record), json_format.format(record),
                      str(getattr(record, "request_id", ""))):
            assert "ZZZpr0xyPw" not in shown, shown
    assert "relay:***@127.0.0.1:3128" in records[0].getMessage()  # which proxy stays readable
    assert "relay:***@127.0.0.1:3128" in text_format.format(records[3])  # the traceback's line too


@pytest.mark.parametrize("text, masked", [
    (f"proxy: {PROXY}, status 407", "proxy: http://relay:***@127.0.0.1:3128, status 407"),
    ("dsn 'postgresql+psycopg://bot:p@ss/w?rd@db:5432/rb' refused", "dsn 'postgresql+psycopg://bot:***@db:5432/rb' refused"),
    ("via https://u:pa%40ss@proxy.corp:8080/ and socks5://v:ZZZ2@10.0.0.1:1080",
     "via https://u:***@proxy.corp:8080/ and socks5://v:***@10.0.0.1:1080"),
    ("url=http%3A%2F%2Frelay%3AZZZpw%40127.0.0.1%3A3128", "url=http://relay:***@127.0.0.1:3128"),
    # slack_sdk's trace of its CONNECT: the same password, base64-encoded behind the scheme
    ("CONNECT wss-primary.slack.com:443 HTTP/1.0\r\nProxy-Authorization: Basic cmVsYXk6WlpacHc=\r\n",
     "CONNECT wss-primary.slack.com:443 HTTP/1.0\r\nProxy-Authorization: ***\r\n"),
])
def test_redact_masks_the_password_of_every_url_in_a_line(text, masked):
    assert redact(text) == masked
    assert "ZZZ" not in shape_only(text) and "p@ss" not in shape_only(text) and "pa%40ss" not in shape_only(text)


def test_a_url_without_a_password_and_text_without_a_url_are_left_as_they_are():
    for text in ("GET https://slack.com/api/auth.test 200", "mail ops@example.org: 3 of 4 done",
                 "ssh://git@github.com/x/y.git", "http://127.0.0.1:9/api/"):
        assert redact(text) == text


def test_a_record_whose_format_fails_keeps_no_url_password_in_what_logging_prints_about_it(capsys):
    logs.configure(logging.WARNING)
    logger = logging.getLogger("urllib3.test_broken")
    handler = logging.StreamHandler()  # an operator's: prints "Message: … Arguments: …" when formatting fails
    logger.addHandler(handler)
    logger.propagate = False  # (pytest's own handler raises what logging would report)
    try:
        logger.warning("proxy %s refused %d", PROXY, "four-oh-seven")  # %d of a str: formatting fails
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    reported = capsys.readouterr().err
    assert "Arguments: ('http://relay:***@127.0.0.1:3128', 'four-oh-seven')" in reported
    assert "ZZZpr0xyPw" not in reported
