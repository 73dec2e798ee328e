import string

import pytest

from bot.passwords import PasswordRules, generate
from bot.providers.mofh.passwords import MOFH_RULES
from bot.providers.namecheap.passwords import NAMECHEAP_RULES, NAMECHEAP_SYMBOLS
from bot.secret import Secret, reveal


def test_mofh_password_is_16_alphanumerics():
    for _ in range(200):
        value = generate(MOFH_RULES).reveal()
        assert len(value) == 16
        assert set(value) <= set(string.ascii_letters + string.digits)
        assert MOFH_RULES.check(value) is None


def test_namecheap_password_has_every_class_and_fits_8_to_20():
    for _ in range(200):
        value = generate(NAMECHEAP_RULES).reveal()
        assert 8 <= len(value) <= 20
        assert any(c.isupper() for c in value) and any(c.islower() for c in value)
        assert any(c.isdigit() for c in value) and any(c in NAMECHEAP_SYMBOLS for c in value)


def test_passwords_differ_between_calls():
    values = {generate(MOFH_RULES).reveal() for _ in range(500)}
    assert len(values) == 500


@pytest.mark.parametrize("bad, why", [("short", "characters long"), ("a" * 15 + "!", "outside")])
def test_rules_explain_a_refusal(bad, why):
    assert why in MOFH_RULES.check(bad)


def test_secret_never_prints_its_value():
    secret = Secret("ZZZsentinel123456")
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % secret, str([secret]), str({"k": secret})]  # noqa: UP031 - %-formatting is under test
    assert all("ZZZsentinel" not in text for text in shown)
    assert secret.reveal() == "ZZZsentinel123456"
    assert reveal(secret) == reveal("ZZZsentinel123456") == "ZZZsentinel123456"
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(secret)


def test_rules_may_keep_the_accounts_name_out_of_the_password():
    """A panel that refuses a password holding the username (cPanel) says which names; `generate` draws again."""
    rules = PasswordRules(length=20, alphabet="ab", min_length=20, max_length=20,
                          names_in=lambda account: (account, account[:2]))
    for _ in range(50):
        value = generate(rules, account="AAb").reveal()
        assert "aab" not in value.lower() and "aa" not in value.lower()
    assert rules.check("ab" * 10, account="xBAx") is None  # neither "xBAx" nor "xB" is in it
    assert rules.check("ab" * 10, account="Ab") == "must not contain the account's name"  # case-insensitive
    assert rules.check("ab" * 10) is None  # no account given: the name rule is not asked
    plain = PasswordRules(length=20, alphabet="ab", min_length=20, max_length=20)
    assert plain.check("ab" * 10, account="ab") is None  # a provider without the rule ignores the account


def test_min_each_asks_that_many_of_every_class():
    rules = PasswordRules(length=8, alphabet="ab01", min_length=8, max_length=8, required_classes=("ab", "01"),
                          min_each=4)
    for _ in range(50):
        value = generate(rules).reveal()
        assert sum(c in "ab" for c in value) == 4 and sum(c in "01" for c in value) == 4
