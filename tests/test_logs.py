import logging

from bot.logs import RedactingFilter, redact


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
