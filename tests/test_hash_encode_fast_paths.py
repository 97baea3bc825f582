"""The shortcuts of the block encoding give the bytes of the general one: timestamps whose nanosecond counts fit in 64
bits are scaled in one product, and string arrays whose bytes are all ASCII skip Arrow's full validation; values at
and past the bound of each shortcut give what they gave before."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from prov_common.hashing.encode import NotUtf8Error, _nanos128, check_utf8

INT64 = np.iinfo(np.int64)
FACTORS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _reference(values: list[int], unit: str) -> bytes:
    """The 128-bit little-endian two's complement of each count in nanoseconds, by Python's integers."""
    return b"".join((v * FACTORS[unit]).to_bytes(16, "little", signed=True) for v in values)


@pytest.mark.parametrize("unit", list(FACTORS))
def test_nanoseconds_at_and_past_the_64_bit_bound_are_exact(unit: str) -> None:
    limit = INT64.max // FACTORS[unit]
    edges = [0, 1, -1, limit, -limit, 1_700_000_000, -1_700_000_000]
    past = [[*edges, limit + 1], [*edges, -limit - 1]] if unit != "ns" else []  # ns: nothing past int64
    for values in (edges, *past, [INT64.min, INT64.max, 0]):
        assert _nanos128(np.array(values, dtype=np.int64), unit).tobytes() == _reference(values, unit)


def test_nanoseconds_of_random_counts_are_exact() -> None:
    rng = np.random.default_rng(11)
    for unit in FACTORS:
        limit = INT64.max // FACTORS[unit]
        inside = rng.integers(-limit, limit, size=500, endpoint=True)
        anywhere = rng.integers(INT64.min, INT64.max, size=500, endpoint=True)
        for values in (inside, anywhere):
            assert _nanos128(values, unit).tobytes() == _reference(values.tolist(), unit)
    assert _nanos128(np.array([], dtype=np.int64), "us").tobytes() == b""


def _strings(values: list[bytes | None], large: bool = False) -> pa.Array:
    binary = pa.array(values, pa.large_binary() if large else pa.binary())
    return binary.view(pa.large_string() if large else pa.string())


@pytest.mark.parametrize("large", [False, True])
def test_text_is_refused_or_taken_as_before(large: bool) -> None:
    ascii_only = _strings([b"cat", None, b"", b"dog"] * 50, large)
    check_utf8(ascii_only)
    check_utf8(ascii_only.slice(3, 100))
    check_utf8(_strings(["café".encode(), "日本".encode()], large))  # UTF-8 beyond ASCII: the full check takes it
    check_utf8(pa.array(["x", "é"], pa.large_string() if large else pa.string()).slice(0, 1))
    with pytest.raises(NotUtf8Error) as err:
        check_utf8(_strings([b"ok", b"caf\xe9", b"ok"], large))
    assert err.value.index == 1
    with pytest.raises(NotUtf8Error):  # valid once joined, not one by one
        check_utf8(_strings([b"a\xc3", b"\xa9b"], large))



@pytest.mark.parametrize("values", [np.arange(1, 200_001, dtype=np.int64) * 1_700,  # all after 1970: high words 0
                                    np.arange(-100_000, 100_000, dtype=np.int64) * 1_700])  # before and after
def test_nanoseconds_are_scaled_into_their_output(values: np.ndarray) -> None:
    """The product and the sign words were made in arrays of their own, then copied into the output (twice its size
    allocated): they are made in the output itself, the only array allocated (numpy's allocations are traced), and the
    bytes are those of Python's integers."""
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        out = _nanos128(values, "us")
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert peak < 16 * len(values) + 64 * 1024, f"{peak:,} bytes allocated for {16 * len(values):,} of output"
    assert out.tobytes() == _reference(values.tolist(), "us")
