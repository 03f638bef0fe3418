"""kernel/signing: HMAC-SHA256 over timestamp and body, a replay window, rotation of secrets."""

from __future__ import annotations

import datetime as dt

import pytest

from localgov.kernel.signing import (
    DEFAULT_SCHEME,
    SignatureRefused,
    SignatureScheme,
    new_secret,
    secrets_in_force,
)

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
BODY = b'{"amount":"80.00"}'


def _ts(moment: dt.datetime) -> str:
    return str(int(moment.timestamp()))


def _refused(code: str, *args: object) -> None:
    with pytest.raises(SignatureRefused) as refused:
        DEFAULT_SCHEME.verify(*args)  # type: ignore[arg-type]
    assert refused.value.code == code
    assert refused.value.status == 401


def test_a_signature_verifies_and_every_change_breaks_it() -> None:
    secret = new_secret("lgwh_")
    headers = DEFAULT_SCHEME.headers([secret], BODY, NOW)
    timestamp, signature = headers["X-Localgov-Timestamp"], headers["X-Localgov-Signature"]
    assert signature.startswith("v1=")
    assert len(signature) == 3 + 64
    DEFAULT_SCHEME.verify([secret], timestamp, signature, BODY, NOW)
    _refused("invalid_signature", [secret], timestamp, signature, BODY + b" ", NOW)
    _refused("invalid_signature", [secret], str(int(timestamp) + 1), signature, BODY, NOW)
    _refused("invalid_signature", ["another secret"], timestamp, signature, BODY, NOW)
    _refused("invalid_signature", [], timestamp, signature, BODY, NOW)  # no secret: nothing verifies
    _refused("invalid_signature", [secret], timestamp, signature.upper(), BODY, NOW)
    _refused("invalid_signature", [secret], timestamp, "v2=" + signature[3:], BODY, NOW)


def test_missing_malformed_and_stale_timestamps_are_refused() -> None:
    secret = new_secret("lgwh_")
    signature = DEFAULT_SCHEME.sign(secret, _ts(NOW), BODY)
    _refused("missing_signature", [secret], None, signature, BODY, NOW)
    _refused("missing_signature", [secret], _ts(NOW), "", BODY, NOW)
    _refused("invalid_timestamp", [secret], "12.5", signature, BODY, NOW)
    _refused("invalid_timestamp", [secret], "1" * 13, signature, BODY, NOW)
    for skew in (dt.timedelta(minutes=5, seconds=1), -dt.timedelta(minutes=5, seconds=1)):
        moment = NOW + skew
        with pytest.raises(SignatureRefused, match="5-minute window") as refused:
            DEFAULT_SCHEME.verify([secret], _ts(moment), DEFAULT_SCHEME.sign(secret, _ts(moment), BODY), BODY, NOW)
        assert refused.value.code == "stale_timestamp"
        assert (refused.value.data or {})["window_s"] == 300
    inside = NOW - dt.timedelta(minutes=5)
    DEFAULT_SCHEME.verify([secret], _ts(inside), DEFAULT_SCHEME.sign(secret, _ts(inside), BODY), BODY, NOW)


def test_rotation_signs_with_both_and_verifies_the_previous_for_its_overlap() -> None:
    old, new = new_secret("lgwh_"), new_secret("lgwh_")
    assert old != new
    assert old.startswith("lgwh_")
    rotated = NOW - dt.timedelta(days=2)
    week = dt.timedelta(days=7)
    assert secrets_in_force(new, old, rotated, NOW, overlap=week) == [new, old]
    assert secrets_in_force(new, old, rotated, rotated + week, overlap=week) == [new]
    assert secrets_in_force(new, None, None, NOW, overlap=week) == [new]
    assert secrets_in_force(None, old, rotated, NOW, overlap=week) == []

    # A sender in the middle of a rotation signs with both; a receiver knowing either accepts.
    both = DEFAULT_SCHEME.headers([old, new], BODY, NOW)
    assert both["X-Localgov-Signature"].count("v1=") == 2
    for known in ([old], [new], [new, old]):
        DEFAULT_SCHEME.verify(known, both["X-Localgov-Timestamp"], both["X-Localgov-Signature"], BODY, NOW)
    # Only the first four values of a header are looked at.
    padded = ",".join(["v1=" + "0" * 64] * 4 + [DEFAULT_SCHEME.sign(new, _ts(NOW), BODY)])
    _refused("invalid_signature", [new], _ts(NOW), padded, BODY, NOW)


def test_a_scheme_of_its_own() -> None:
    scheme = SignatureScheme(
        timestamp_header="X-Hook-Time", signature_header="X-Hook-Sig", scheme="v9", window=dt.timedelta(seconds=30)
    )
    headers = scheme.headers(["s"], BODY, NOW)
    assert set(headers) == {"X-Hook-Time", "X-Hook-Sig"}
    assert headers["X-Hook-Sig"].startswith("v9=")
    scheme.verify(["s"], headers["X-Hook-Time"], headers["X-Hook-Sig"], BODY, NOW + dt.timedelta(seconds=30))
    with pytest.raises(SignatureRefused, match="X-Hook-Time"):
        scheme.verify(["s"], None, headers["X-Hook-Sig"], BODY, NOW)
    with pytest.raises(SignatureRefused) as stale:
        scheme.verify(["s"], headers["X-Hook-Time"], headers["X-Hook-Sig"], BODY, NOW + dt.timedelta(seconds=31))
    assert stale.value.code == "stale_timestamp"
    with pytest.raises(ValueError, match="at least one secret"):
        scheme.headers([], BODY, NOW)
    with pytest.raises(ValueError, match="prefix"):
        new_secret("BAD")
