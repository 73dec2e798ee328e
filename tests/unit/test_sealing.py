import os
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.fernet import Fernet

from bot.sealing import (
    SealBroken,
    Sealer,
    SealKeyMissing,
    button_lookup,
    ephemeral_key,
    is_button,
    key_beside_sqlite,
    new_button,
)
from bot.secret import Secret


def test_sealed_value_opens_only_for_its_request_and_purpose():
    sealer = Sealer(ephemeral_key())
    token = sealer.seal(Secret("ZZZsentinel12345"), request_id="rr_1", purpose="password")
    assert b"ZZZsentinel" not in token
    assert sealer.open(token, request_id="rr_1", purpose="password").reveal() == "ZZZsentinel12345"
    for request_id, purpose in (("rr_2", "password"), ("rr_1", "input")):
        with pytest.raises(SealBroken):
            sealer.open(token, request_id=request_id, purpose=purpose)
    with pytest.raises(SealKeyMissing):  # another replica may hold the key: never "broken"
        Sealer(ephemeral_key()).open(token, request_id="rr_1", purpose="password")
    with pytest.raises(SealBroken):
        sealer.open(token[:-3] + b"AAA", request_id="rr_1", purpose="password")


def test_key_file_beside_sqlite_is_private_and_shared_by_processes_starting_together(tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    with ThreadPoolExecutor(8) as pool:
        keys = {k.reveal() for k in pool.map(lambda _: key_beside_sqlite(url), range(8))}
    assert len(keys) == 1
    assert stat.S_IMODE(os.stat(tmp_path / "bot.db.key").st_mode) == 0o600
    assert key_beside_sqlite("sqlite://") is None


def test_a_value_sealed_to_a_button_opens_only_with_the_seal_key_and_that_button():
    key = ephemeral_key()
    sealer, button = Sealer(key), new_button()
    token = sealer.seal_bound(Secret("ZZZsentinel12345"), request_id="rr_1", purpose="password", button=button)
    assert b"ZZZsentinel" not in token and button.reveal().encode() not in token
    assert sealer.open_bound(token, request_id="rr_1", purpose="password", button=button).reveal() == "ZZZsentinel12345"
    with pytest.raises(SealBroken):  # the database plus the seal key: no button
        sealer.open(token, request_id="rr_1", purpose="password")
    with pytest.raises(SealBroken):  # another button (an older DM's)
        sealer.open_bound(token, request_id="rr_1", purpose="password", button=new_button())
    with pytest.raises(SealKeyMissing):  # the button without the seal key
        Sealer(ephemeral_key()).open_bound(token, request_id="rr_1", purpose="password", button=button)
    with pytest.raises(SealBroken):
        sealer.open_bound(token, request_id="rr_2", purpose="password", button=button)


def test_what_the_database_keeps_of_a_button_is_a_one_way_lookup():
    button = new_button()
    lookup = button_lookup(button)
    assert is_button(button.reveal()) and not is_button(lookup)
    assert len(lookup) == 64 and button.reveal() not in lookup and lookup == button_lookup(Secret(button.reveal()))
    assert len(button.reveal()) <= 100  # a Slack button value holds at most 2000; handlers/actions.py takes 100
    assert button_lookup(new_button()) != lookup


def test_with_two_keys_the_first_seals_and_either_opens_and_key_index_tells_which_sealed():
    old, new = ephemeral_key(), ephemeral_key()
    before = Sealer(old)
    both = Sealer(Secret(f"{new.reveal()}, {old.reveal()}"))
    assert both.key_count == 2
    sealed_old = before.seal(Secret("ZZZsentinel12345"), request_id="rr_1", purpose="password")
    button = new_button()
    bound_old = before.seal_bound(Secret("ZZZsentinel12345"), request_id="rr_1", purpose="password", button=button)
    assert both.open(sealed_old, request_id="rr_1", purpose="password").reveal() == "ZZZsentinel12345"
    assert both.open_bound(bound_old, request_id="rr_1", purpose="password", button=button).reveal() == \
        "ZZZsentinel12345"
    assert (both.key_index(sealed_old), both.key_index(bound_old)) == (1, 1)
    sealed_new = both.seal(Secret("ZZZsentinel67890"), request_id="rr_2", purpose="password")
    bound_new = both.seal_bound(Secret("ZZZsentinel67890"), request_id="rr_2", purpose="password", button=button)
    assert (both.key_index(sealed_new), both.key_index(bound_new)) == (0, 0)
    only_new = Sealer(new)
    assert only_new.open(sealed_new, request_id="rr_2", purpose="password").reveal() == "ZZZsentinel67890"
    assert only_new.open_bound(bound_new, request_id="rr_2", purpose="password", button=button).reveal() == \
        "ZZZsentinel67890"
    with pytest.raises(SealKeyMissing):  # a new seal needs the new key
        before.open(sealed_new, request_id="rr_2", purpose="password")
    with pytest.raises(SealKeyMissing):
        before.open_bound(bound_new, request_id="rr_2", purpose="password", button=button)
    assert before.key_index(sealed_new) is None and only_new.key_index(sealed_old) is None


def test_a_value_bound_before_bound_values_carried_the_key_fingerprint_still_opens_with_any_key():
    old, new = ephemeral_key(), ephemeral_key()
    button = new_button()
    legacy = Sealer(old)._bound(0, button).encrypt(
        b'{"r": "rr_1", "p": "password", "v": "ZZZsentinel12345"}')
    both = Sealer(Secret(f"{new.reveal()},{old.reveal()}"))
    assert both.key_index(legacy) is None  # cannot be told without the button
    assert both.open_bound(legacy, request_id="rr_1", purpose="password", button=button).reveal() == "ZZZsentinel12345"


def test_a_bound_value_names_its_key_by_a_fingerprint_and_the_seal_key_alone_authenticates_nothing():
    from cryptography.fernet import Fernet, InvalidToken

    key = ephemeral_key()
    token = Sealer(key).seal_bound(Secret("ZZZsentinel12345"), request_id="rr_1", purpose="password",
                                   button=new_button())
    assert key.reveal().encode() not in token and Sealer(key).key_index(token) == 0
    with pytest.raises(InvalidToken):  # a copy of the database plus the seal key opens nothing
        Fernet(key.reveal().encode()).decrypt(token.split(b":", 2)[2])
    with pytest.raises(SealKeyMissing):  # under a key this replica does not have
        Sealer(ephemeral_key()).open_bound(token, request_id="rr_1", purpose="password", button=new_button())


def test_a_replica_without_the_sealing_key_names_that_keys_fingerprint_and_its_own():
    old, new = ephemeral_key(), ephemeral_key()
    token = Sealer(Secret(f"{new.reveal()},{old.reveal()}")).seal(Secret("ZZZsentinel12345"), request_id="rr_1",
                                                                   purpose="password")
    only_old = Sealer(old)
    assert not only_old.can_open(token) and Sealer(new).can_open(token)
    with pytest.raises(SealKeyMissing) as missing:
        only_old.open(token, request_id="rr_1", purpose="password")
    assert missing.value.fingerprint == Sealer(new).fingerprints[0] != only_old.fingerprints[0]
    assert missing.value.held == only_old.fingerprints
    assert new.reveal() not in str(missing.value) and old.reveal() not in str(missing.value)
    assert "ZZZsentinel" not in str(missing.value)


def test_a_value_sealed_before_values_carried_the_fingerprint_still_opens():
    key = ephemeral_key()
    legacy = Fernet(key.reveal().encode()).encrypt(b'{"r": "rr_1", "p": "password", "v": "ZZZsentinel12345"}')
    assert Sealer(key).key_index(legacy) == 0
    assert Sealer(key).open(legacy, request_id="rr_1", purpose="password").reveal() == "ZZZsentinel12345"
    with pytest.raises(SealKeyMissing):
        Sealer(ephemeral_key()).open(legacy, request_id="rr_1", purpose="password")
