"""Column encryption: one random draw per column still gives every value its own nonce and binding."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from privacy.crypto import KeyRing


def test_encrypt_many_round_trips_with_distinct_nonces_and_keeps_none(key_ring: KeyRing):
    texts = ["123456789018", None, "同じ値", "同じ値", ""]
    keys = [f"{n:010d}" for n in range(len(texts))]
    blobs = key_ring.encrypt_many(texts, table="person", column="profile", row_keys=keys)
    assert blobs[1] is None
    nonces = [blob[2:14] for blob in blobs if blob is not None]
    assert len(set(nonces)) == len(nonces) == 4
    assert blobs[2] != blobs[3]  # equal plaintexts never give equal ciphertexts
    assert key_ring.decrypt_many(blobs, table="person", column="profile", row_keys=keys) == texts
    assert key_ring.decrypt(blobs[0], table="person", column="profile", row_key=keys[0]) == texts[0]
    with pytest.raises(InvalidTag):  # still bound to its row
        key_ring.decrypt(blobs[0], table="person", column="profile", row_key=keys[2])


def test_encrypt_many_of_nothing():
    assert KeyRing.generate().encrypt_many([], table="person", column="profile", row_keys=[]) == []
