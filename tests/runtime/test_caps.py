"""The capability walker and tail decoder treat kernel data as untrusted:
crafted chains decode exactly; malformed ones (loops, out-of-range offsets,
misaligned or short headers, bodies that do not fit, counts that lie) raise
DecodeError; random buffers never raise anything else and never hang."""

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

BASE = ctypes.sizeof(abi.vfio_region_info)  # 32
HDR = struct.Struct("=HHI")


def region_info_with(*caps_bytes: bytes) -> bytearray:
    """A region-info buffer followed by a chain of the given capabilities
    (each already starting with its header; `next` is filled in here)."""
    buf = bytearray(BASE)
    offsets = []
    for body in caps_bytes:
        offsets.append(len(buf))
        buf += body
        buf += bytes(-len(buf) % 8)
    for i, off in enumerate(offsets):
        nxt = offsets[i + 1] if i + 1 < len(offsets) else 0
        buf[off + 4 : off + 8] = struct.pack("=I", nxt)
    info = abi.vfio_region_info.from_buffer(buf)
    info.argsz, info.flags, info.cap_offset = (
        len(buf),
        abi.VFIO_REGION_INFO_FLAG_CAPS,
        offsets[0] if offsets else 0,
    )
    del info
    return buf


def sparse(areas: list[tuple[int, int]], nr: int | None = None) -> bytes:
    body = HDR.pack(abi.VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1, 0)
    body += struct.pack("=II", len(areas) if nr is None else nr, 0)
    return body + b"".join(struct.pack("=QQ", o, s) for o, s in areas)


def cap_type(t: int, sub: int) -> bytes:
    return HDR.pack(abi.VFIO_REGION_INFO_CAP_TYPE, 1, 0) + struct.pack("=II", t, sub)


def test_crafted_chain_decodes() -> None:
    buf = region_info_with(
        sparse([(0, 0x1000), (0x3000, 0x2000)]),
        cap_type(3, 1),
        HDR.pack(abi.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 1, 0),
        HDR.pack(99, 7, 0) + b"opaque!!",
    )
    chain = caps.walk("region_info", buf, BASE)
    assert [c.name for c in chain] == [
        "VFIO_REGION_INFO_CAP_SPARSE_MMAP",
        "VFIO_REGION_INFO_CAP_TYPE",
        "VFIO_REGION_INFO_CAP_MSIX_MAPPABLE",
        None,
    ]
    assert [(a.offset, a.size) for a in chain[0].tail] == [(0, 0x1000), (0x3000, 0x2000)]
    assert (chain[1].value.type, chain[1].value.subtype) == (3, 1)
    assert chain[2].value is None and chain[3].id == 99 and chain[3].raw[8:16] == b"opaque!!"
    assert caps.walk("region_info", buf, 0) == []


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda b: b.__setitem__(slice(BASE + 4, BASE + 8), struct.pack("=I", BASE)), "loop"),
        (
            lambda b: b.__setitem__(slice(BASE + 4, BASE + 8), struct.pack("=I", 1 << 20)),
            "past the buffer",
        ),
        (lambda b: b.__setitem__(slice(BASE + 4, BASE + 8), struct.pack("=I", 8)), "move forward"),
        (
            lambda b: b.__setitem__(slice(BASE + 8, BASE + 12), struct.pack("=I", 1000)),
            "do not fit",
        ),
    ],
)
def test_malformed_chain_raises(mutate, reason: str) -> None:
    buf = region_info_with(sparse([(0, 0x1000)]), cap_type(1, 1))
    mutate(buf)
    with pytest.raises(DecodeError, match=reason):
        caps.walk("region_info", buf, BASE)


@pytest.mark.parametrize(
    "first, reason", [(BASE + 2, "aligned"), (8, "fixed struct"), (4096, "needs")]
)
def test_bad_first_offset(first: int, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        caps.walk("region_info", region_info_with(cap_type(1, 1)), first)


def test_short_buffers() -> None:
    with pytest.raises(DecodeError, match="shorter than the struct"):
        caps.walk("region_info", bytes(8), BASE)
    body = cap_type(1, 1)[:10]  # a TYPE capability cut short
    buf = bytearray(BASE) + body
    with pytest.raises(DecodeError, match="does not fit"):
        caps.walk("region_info", buf, BASE)


@settings(max_examples=400, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=256),
    first=st.integers(min_value=0, max_value=300),
    scope=st.sampled_from(sorted(caps.SCOPES)),
)
def test_random_buffers_decode_or_raise_decode_error(data: bytes, first: int, scope: str) -> None:
    try:
        result = caps.walk(scope, data, first)
    except DecodeError:
        return
    assert all(c.offset < len(data) for c in result)


@st.composite
def chains(draw: st.DrawFn) -> tuple[bytearray, int]:
    """Chains whose headers point anywhere, ids known or not."""
    n = draw(st.integers(1, 6))
    buf = bytearray(BASE + 24 * n)
    offsets = [BASE + 24 * i for i in range(n)]
    for off in offsets:
        cid = draw(st.integers(0, 6))
        nxt = draw(st.sampled_from([0, *offsets, off + 3, len(buf) + 8]))
        buf[off : off + 8] = HDR.pack(cid, 1, nxt)
        buf[off + 8 : off + 24] = draw(st.binary(min_size=16, max_size=16))
    return buf, offsets[0]


@settings(max_examples=400, deadline=None)
@given(chains())
def test_random_chains_terminate(chain: tuple[bytearray, int]) -> None:
    buf, first = chain
    try:
        result = caps.walk("region_info", buf, first)
    except DecodeError:
        return
    assert len(result) <= 6


def test_struct_plus_tail_builders_follow_the_spec_descriptors() -> None:
    from vfio import tails

    eventfd = abi.VFIO_IRQ_SET_DATA_EVENTFD | abi.VFIO_IRQ_SET_ACTION_TRIGGER
    buf = tails.build(abi.vfio_irq_set, [7, -1], flags=eventfd, index=2, start=1)
    # struct vfio_irq_set { __u32 argsz, flags, index, start, count; __u8 data[]; } + 2 __s32
    assert bytes(buf) == struct.pack("=5I2i", 28, eventfd, 2, 1, 2, 7, -1)
    boolean = abi.VFIO_IRQ_SET_DATA_BOOL | abi.VFIO_IRQ_SET_ACTION_MASK
    assert len(tails.build(abi.vfio_irq_set, [1, 0, 1], flags=boolean)) == 23  # u8 each
    none = abi.VFIO_IRQ_SET_DATA_NONE | abi.VFIO_IRQ_SET_ACTION_TRIGGER
    with pytest.raises(ValueError, match="carry no data"):
        tails.build(abi.vfio_irq_set, [1], flags=none)
    with pytest.raises(ValueError, match="must select one"):
        tails.build(abi.vfio_irq_set, [1], flags=boolean | eventfd)
    reset = tails.build(abi.vfio_pci_hot_reset, [3, 4])
    assert bytes(reset) == struct.pack("=3I2i", 20, 0, 2, 3, 4)
    with pytest.raises(TypeError, match="no counted tail"):
        tails.build(abi.vfio_group_status, [])


def test_a_capability_and_a_struct_built_with_its_tail_print_the_tail() -> None:
    from vfio import tails

    buf = region_info_with(sparse([(0, 0x1000), (0x3000, 0x2000)]))
    (cap,) = caps.walk("region_info", buf, BASE)
    text = repr(cap)
    assert "tail=[vfio_region_sparse_mmap_area(offset=0, size=4096), vfio_region_sparse" in text
    assert "object at 0x" not in text
    assert "nr_areas=2, reserved=0, areas=[vfio_region_sparse_mmap_area(offset=0," in text
    eventfd = abi.VFIO_IRQ_SET_DATA_EVENTFD | abi.VFIO_IRQ_SET_ACTION_TRIGGER
    built = tails.build(abi.vfio_irq_set, [5, 6], flags=eventfd, index=2)
    assert repr(abi.vfio_irq_set.from_buffer(built)).endswith("count=2, data=[5, 6])")
    # a copy has only the fixed part; a buffer cut short holds part of the tail
    assert "data=<2 beyond this object>" in repr(abi.vfio_irq_set.from_buffer_copy(built))
    cut = abi.vfio_irq_set.from_buffer(built[:24])
    assert repr(cut).endswith("data=[5, <1 beyond the buffer>])")
    booleans = tails.build(abi.vfio_irq_set, [1, 0, 1], flags=abi.VFIO_IRQ_SET_DATA_BOOL)
    assert repr(abi.vfio_irq_set.from_buffer(booleans)).endswith("data=[1, 0, 1])")
    reset = tails.build(abi.vfio_pci_hot_reset, [3, 4])
    assert repr(abi.vfio_pci_hot_reset.from_buffer(reset)).endswith("group_fds=[3, 4])")
    with pytest.raises(AttributeError, match="flgs"):  # a misspelt field is no silent no-op
        tails.build(abi.vfio_pci_hot_reset, [3], flgs=1)
