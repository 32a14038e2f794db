"""The capability walker's bounds, each hit at its exact boundary.

A capability ends where the next one starts (or at the end of the buffer
for the last one). Rules checked here, with crafted chains at end - 1, end
and end + 1 (headers are 4-byte aligned, so inside a chain the step is 4):
- a capability's body must fit before ITS OWN end, not the buffer's;
- a counted tail (sparse mmap areas) must fit before its capability's end,
  so one capability never reads into the next (an overlapping chain is
  refused);
- headers fit the buffer, sit past the fixed struct, are aligned, and
  `next` moves forward and stays inside the buffer.
And the property behind them all: whatever the walker accepts, it never
decoded a byte past the capability's end.
"""

from __future__ import annotations

import ctypes
import struct
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[2] / "generated"))

from vfio import abi, caps  # noqa: E402
from vfio.errors import DecodeError  # noqa: E402

BASE = ctypes.sizeof(abi.vfio_region_info)  # 32: the first capability may start here
HDR = struct.Struct("=HHI")
SPARSE = abi.VFIO_REGION_INFO_CAP_SPARSE_MMAP
TYPE = abi.VFIO_REGION_INFO_CAP_TYPE
TYPE_SIZE = ctypes.sizeof(abi.vfio_region_info_cap_type)  # 16: header + type + subtype
SPARSE_HEAD = ctypes.sizeof(abi.vfio_region_info_cap_sparse_mmap)  # 16: areas start here
AREA = ctypes.sizeof(abi.vfio_region_sparse_mmap_area)  # 16


def buffer(size: int) -> bytearray:
    """A region-info buffer of `size` bytes, filled with a sentinel."""
    buf = bytearray(b"\xee" * size)
    buf[:BASE] = bytes(BASE)
    return buf


def put_header(buf: bytearray, offset: int, cid: int, nxt: int) -> None:
    buf[offset : offset + 8] = HDR.pack(cid, 1, nxt)


def put_sparse(buf: bytearray, offset: int, nxt: int, nr: int, areas: int) -> None:
    put_header(buf, offset, SPARSE, nxt)
    buf[offset + 8 : offset + 16] = struct.pack("=II", nr, 0)
    for i in range(areas):
        at = offset + SPARSE_HEAD + AREA * i
        if at + AREA <= len(buf):
            buf[at : at + AREA] = struct.pack("=QQ", 0x1000 * i, 0x1000)


def walk(buf: bytearray) -> list[caps.Capability]:
    return caps.walk("region_info", bytes(buf), BASE)


# --- a body checked against its own capability's end --------------------------


def type_then_marker(next_at: int) -> bytearray:
    """A TYPE capability at BASE whose `next` is `next_at`, then an
    MSIX_MAPPABLE capability (header only) there."""
    buf = buffer(next_at + 8)
    put_header(buf, BASE, TYPE, next_at)
    buf[BASE + 8 : BASE + 16] = struct.pack("=II", 3, 1)
    put_header(buf, next_at, abi.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 0)
    return buf


def test_body_that_ends_at_its_capability_end_decodes() -> None:
    chain = walk(type_then_marker(BASE + TYPE_SIZE))
    assert [c.name for c in chain] == [
        "VFIO_REGION_INFO_CAP_TYPE",
        "VFIO_REGION_INFO_CAP_MSIX_MAPPABLE",
    ]
    assert (chain[0].value.type, chain[0].value.subtype) == (3, 1)
    assert len(chain[0].raw) == TYPE_SIZE


@pytest.mark.parametrize("short", [1, 4])
def test_body_past_its_capability_end_is_refused(short: int) -> None:
    """The next capability starts inside this one's body (end + 1, end + 4):
    the buffer is long enough, the capability is not."""
    buf = type_then_marker(BASE + TYPE_SIZE - short)
    with pytest.raises(DecodeError, match=f"body of {TYPE_SIZE} bytes does not fit") as err:
        walk(buf)
    assert err.value.offset == BASE and err.value.what == "VFIO_REGION_INFO_CAP_TYPE"


def test_body_one_byte_short_of_its_capability_end_decodes_then_next_is_checked() -> None:
    """end - 1: the body fits; the misaligned next header is what is refused."""
    with pytest.raises(DecodeError, match="not 4-byte aligned") as err:
        walk(type_then_marker(BASE + TYPE_SIZE + 1))
    assert err.value.offset == BASE + TYPE_SIZE + 1


@pytest.mark.parametrize("length, ok", [(BASE + TYPE_SIZE - 1, False), (BASE + TYPE_SIZE, True)])
def test_last_body_against_the_buffer_end(length: int, ok: bool) -> None:
    buf = buffer(length)
    put_header(buf, BASE, TYPE, 0)
    buf[BASE + 8 : length] = struct.pack("=II", 3, 1)[: length - BASE - 8]
    if ok:
        assert walk(buf)[0].value.subtype == 1
    else:
        with pytest.raises(DecodeError, match="does not fit"):
            walk(buf)


# --- a counted tail checked against its own capability's end --------------------


def sparse_then_marker(nr: int, next_at: int) -> bytearray:
    buf = buffer(max(next_at + 8, BASE + SPARSE_HEAD + AREA * nr))
    put_sparse(buf, BASE, next_at, nr, nr)
    put_header(buf, next_at, abi.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 0)
    return buf


def test_tail_that_ends_at_its_capability_end_decodes() -> None:
    chain = walk(sparse_then_marker(2, BASE + SPARSE_HEAD + 2 * AREA))
    assert [(a.offset, a.size) for a in chain[0].tail] == [(0, 0x1000), (0x1000, 0x1000)]
    assert chain[1].name == "VFIO_REGION_INFO_CAP_MSIX_MAPPABLE"


@pytest.mark.parametrize("over", [4, AREA])
def test_tail_reading_into_the_next_capability_is_refused(over: int) -> None:
    """nr_areas says 2, the next capability starts `over` bytes before the
    second area ends: an overlapping chain, though the buffer holds it all."""
    buf = sparse_then_marker(2, BASE + SPARSE_HEAD + 2 * AREA - over)
    assert len(buf) >= BASE + SPARSE_HEAD + 2 * AREA
    with pytest.raises(DecodeError, match="nr_areas = 2 elements of 16 bytes do not fit") as err:
        walk(buf)
    assert err.value.offset == BASE


def test_tail_one_byte_short_of_its_capability_end_decodes_then_next_is_checked() -> None:
    with pytest.raises(DecodeError, match="not 4-byte aligned"):
        walk(sparse_then_marker(2, BASE + SPARSE_HEAD + 2 * AREA + 1))


@pytest.mark.parametrize("extra, ok", [(-1, False), (0, True), (1, True)])
def test_last_tail_against_the_buffer_end(extra: int, ok: bool) -> None:
    length = BASE + SPARSE_HEAD + 2 * AREA + extra
    buf = buffer(length)
    put_sparse(buf, BASE, 0, 2, 2)
    if ok:
        assert len(walk(buf)[0].tail) == 2
    else:
        with pytest.raises(DecodeError, match="do not fit"):
            walk(buf)


@pytest.mark.parametrize("end_delta, ok", [(-1, False), (0, True), (1, True)])
def test_counted_tail_respects_the_end_it_is_given(end_delta: int, ok: bool) -> None:
    """counted_tail's own contract: `end` limits it even where data goes on."""
    buf = buffer(BASE + SPARSE_HEAD + 4 * AREA)
    put_sparse(buf, BASE, 0, 2, 4)
    value = abi.vfio_region_info_cap_sparse_mmap.from_buffer_copy(bytes(buf), BASE)
    end = BASE + SPARSE_HEAD + 2 * AREA + end_delta
    if ok:
        assert len(caps.counted_tail(value, bytes(buf), BASE, end)) == 2
    else:
        with pytest.raises(DecodeError, match="do not fit"):
            caps.counted_tail(value, bytes(buf), BASE, end)


# --- headers and `next` ------------------------------------------------------------


@pytest.mark.parametrize(
    "first, reason",
    [(BASE - 4, "points into the fixed struct"), (BASE + 2, "not 4-byte aligned")],
)
def test_first_offset_bounds(first: int, reason: str) -> None:
    buf = buffer(BASE + 16)
    put_header(buf, BASE, abi.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 0)
    with pytest.raises(DecodeError, match=reason):
        caps.walk("region_info", bytes(buf), first)
    assert caps.walk("region_info", bytes(buf), BASE)[0].offset == BASE


@pytest.mark.parametrize(
    "length, ok", [(BASE + 7, False), (BASE + 8, True), (BASE + 9, True), (BASE + 15, True)]
)
def test_header_against_the_buffer_end(length: int, ok: bool) -> None:
    buf = buffer(length)
    header = HDR.pack(abi.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 1, 0)[: length - BASE]
    buf[BASE : BASE + len(header)] = header
    assert len(buf) == length
    if ok:
        assert walk(buf)[0].raw == bytes(buf[BASE:]) and len(buf[BASE:]) == length - BASE
    else:
        with pytest.raises(DecodeError, match="needs 8 bytes, the buffer has 7"):
            walk(buf)


@pytest.mark.parametrize(
    "nxt, reason",
    [
        (BASE, "does not move forward"),  # itself
        (BASE - 4, "does not move forward"),
        (BASE + 64 + 4, "past the buffer"),  # end + 4 of a 96-byte buffer
        (BASE + 64, "needs 8 bytes"),  # == end: a header that cannot fit
    ],
)
def test_next_bounds(nxt: int, reason: str) -> None:
    buf = buffer(BASE + 64)
    put_header(buf, BASE, abi.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, nxt)
    with pytest.raises(DecodeError, match=reason):
        walk(buf)


@pytest.mark.parametrize("step, ok", [(4, False), (8, True), (12, True)])
def test_header_overlapping_the_next_capability_is_refused(step: int, ok: bool) -> None:
    """`next` 4 bytes on (end = offset + 4) would make this header's last
    bytes the next one's id and version: a read past the capability's end."""
    buf = buffer(BASE + 32)
    put_header(buf, BASE + step, 98, 0)
    buf[BASE : BASE + 4] = struct.pack("=HH", 99, 1)
    buf[BASE + 4 : BASE + 8] = struct.pack("=I", BASE + step)  # `next`, written last
    if ok:
        assert [(c.offset, len(c.raw)) for c in walk(buf)] == [
            (BASE, step),
            (BASE + step, 32 - step),
        ]
    else:
        with pytest.raises(
            DecodeError, match=f"next {BASE + step} is inside this capability's header"
        ):
            walk(buf)


def test_next_at_the_last_header_that_fits() -> None:
    buf = buffer(BASE + 64)
    put_header(buf, BASE, abi.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, BASE + 56)
    put_header(buf, BASE + 56, 99, 0)
    chain = walk(buf)
    assert [(c.offset, c.id, len(c.raw)) for c in chain] == [(BASE, 3, 56), (BASE + 56, 99, 8)]


@pytest.mark.parametrize("length, ok", [(BASE - 1, False), (BASE, True)])
def test_buffer_shorter_than_the_info_struct(length: int, ok: bool) -> None:
    if ok:
        assert caps.walk("region_info", bytes(length), 0) == []
    else:
        with pytest.raises(DecodeError, match=f"shorter than the struct \\({BASE}\\)") as err:
            caps.walk("region_info", bytes(length), 0)
        assert (err.value.what, err.value.offset) == ("vfio_region_info", 0)


def test_empty_counted_tail_decodes() -> None:
    buf = buffer(BASE + SPARSE_HEAD)
    put_sparse(buf, BASE, 0, 0, 0)
    (cap,) = walk(buf)
    assert cap.value.nr_areas == 0 and len(cap.tail) == 0


def test_capabilities_past_the_first_decode_at_their_own_offset() -> None:
    """A marker at BASE, then a sparse capability at BASE + 16 whose tail
    starts 16 bytes into it (offsets chosen so `+` and `^`/`|` differ), then
    a header at an offset with bit 3 set."""
    at = BASE + 16
    last = at + SPARSE_HEAD + 2 * AREA + 8  # 8 mod 16
    buf = buffer(last + 8)
    put_header(buf, BASE, abi.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, at)
    put_sparse(buf, at, last, 2, 2)
    put_header(buf, last, 99, 0)
    chain = walk(buf)
    assert [c.offset for c in chain] == [BASE, at, last]
    assert [(a.offset, a.size) for a in chain[1].tail] == [(0, 0x1000), (0x1000, 0x1000)]
    with pytest.raises(DecodeError, match="needs 8 bytes, the buffer has 7"):
        caps.walk("region_info", bytes(buf[:-1]), BASE)


def test_longest_possible_chain_is_not_taken_for_a_loop() -> None:
    """Headers back to back up to the last byte: as many as can fit decode."""
    n = 6
    buf = buffer(BASE + 8 * n)
    for i in range(n):
        put_header(buf, BASE + 8 * i, 99, BASE + 8 * (i + 1) if i + 1 < n else 0)
    assert [c.offset for c in walk(buf)] == [BASE + 8 * i for i in range(n)]


# --- never a read past a capability's end ---------------------------------------------


@st.composite
def packed_chains(draw: st.DrawFn) -> tuple[bytes, int]:
    """Known and unknown capabilities at arbitrary aligned places, with
    counts that may lie: the shapes an overlapping chain takes."""
    n = draw(st.integers(1, 5))
    size = BASE + draw(st.integers(8, 160)) // 4 * 4
    buf = bytearray(draw(st.binary(min_size=size, max_size=size)))
    offsets = sorted(
        set(draw(st.lists(st.integers(BASE // 4, (size - 8) // 4), min_size=n, max_size=n)))
    )
    offsets = [o * 4 for o in offsets]
    for i, off in reversed(list(enumerate(offsets))):  # so overlapping headers keep `next`
        cid = draw(st.sampled_from([SPARSE, TYPE, 3, 4, 5, 99]))
        nxt = offsets[i + 1] if i + 1 < len(offsets) else 0
        put_header(buf, off, cid, nxt)
        if cid == SPARSE and off + 12 <= size:
            buf[off + 8 : off + 12] = struct.pack("=I", draw(st.integers(0, 4)))
    return bytes(buf), offsets[0]


@settings(max_examples=300, deadline=None)
@given(packed_chains())
def test_accepted_capabilities_never_reach_past_their_end(chain: tuple[bytes, int]) -> None:
    data, first = chain
    try:
        result = caps.walk("region_info", data, first)
    except DecodeError:
        return
    for i, c in enumerate(result):
        end = result[i + 1].offset if i + 1 < len(result) else len(data)
        assert c.raw == data[c.offset : end]
        used = 8
        if c.value is not None:
            used = ctypes.sizeof(c.value)
        if len(c.tail):
            used = SPARSE_HEAD + AREA * len(c.tail)
        assert c.offset + used <= end, f"capability at {c.offset} reads {used} bytes, ends {end}"


@pytest.mark.parametrize("first, has", [(BASE + 12, 5), (BASE + 64, 0), (BASE + 4096, 0)])
def test_header_past_the_buffer_says_how_many_bytes_there_are(first: int, has: int) -> None:
    buf = buffer(BASE + 17)
    with pytest.raises(DecodeError, match=f"needs 8 bytes, the buffer has {has}$") as err:
        caps.walk("region_info", bytes(buf), first)
    assert err.value.offset == first


@pytest.mark.parametrize("at", [BASE + 8, BASE + 16, BASE + 24])
def test_body_and_header_bounds_hold_at_any_offset(at: int) -> None:
    """The same two refusals for a capability after a marker, at offsets
    whose low bits differ (so an OR or XOR in place of + shows)."""
    buf = buffer(at + 64)
    put_header(buf, BASE, abi.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, at)
    put_header(buf, at, TYPE, at + TYPE_SIZE - 4)  # body runs 4 bytes into the next
    put_header(buf, at + TYPE_SIZE - 4, 99, 0)
    with pytest.raises(DecodeError, match=f"body of {TYPE_SIZE} bytes does not fit") as err:
        walk(buf)
    assert err.value.offset == at
    buf = buffer(at + 64)
    put_header(buf, BASE, abi.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, at)
    put_header(buf, at + 4, 98, 0)
    buf[at : at + 4] = struct.pack("=HH", 99, 1)
    buf[at + 4 : at + 8] = struct.pack("=I", at + 4)  # next inside the header
    with pytest.raises(DecodeError, match="inside this capability's header") as err:
        walk(buf)
    assert err.value.offset == at
