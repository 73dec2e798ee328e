import os
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.sealing import SealBroken, Sealer, ephemeral_key, key_beside_sqlite
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
