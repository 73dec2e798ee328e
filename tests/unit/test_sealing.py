import os
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.sealing import SealBroken, Sealer, button_lookup, ephemeral_key, is_button, key_beside_sqlite, new_button
from bot.secret import Secret


def test_sealed_value_opens_only_for_its_request_and_purpose():
    sealer = Sealer(ephemeral_key())
    token = sealer.seal(Secret("ZZZsentinel12345"), request_id="rr_1", purpose="password")
    assert b"ZZZsentinel" not in token
    assert sealer.open(token, request_id="rr_1", purpose="password").reveal() == "ZZZsentinel12345"
    for request_id, purpose in (("rr_2", "password"), ("rr_1", "input")):
        with pytest.raises(SealBroken):
            sealer.open(token, request_id=request_id, purpose=purpose)
    with pytest.raises(SealBroken):
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
    with pytest.raises(SealBroken):  # the button without the seal key
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
