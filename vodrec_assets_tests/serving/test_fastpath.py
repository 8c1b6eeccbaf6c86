"""Which requests the fast path answers itself: exactly the well-formed ones; the rest go to FastAPI (422s)."""

import pytest

from vodrec_assets.serving.fastpath import parse

P = "/recommendations/"


@pytest.mark.parametrize("path, query, expected", [
    (P + "100007", b"", (100007, 10)),
    (P + "100007", b"k=3", (100007, 3)),
    (P + "007", b"k=100", (7, 100)),
    (P + str(2**63 - 1), b"", (2**63 - 1, 10)),  # exact: never through a float
    (P + str(2**53 + 1), b"", (2**53 + 1, 10)),
])
def test_well_formed_requests_are_answered_here(path, query, expected):
    assert parse(path, query) == expected


@pytest.mark.parametrize("path, query", [
    (P + str(2**63), b""), (P + "9" * 5000, b""), (P + "-1", b""), (P + "+1", b""), (P + "1.0", b""),
    (P + "", b""), (P + "١٢", b""), (P + "1", b"k=0"), (P + "1", b"k=101"), (P + "1", b"k=abc"),
    (P + "1", b"k=1&x=2"), (P + "1", b"x=1"), (P + "1/", b""), (P + "1", b"k=0010"),
])
def test_anything_else_is_left_to_fastapi(path, query):
    assert parse(path, query) is None
