# vfiogen's fuzz runtime, copied verbatim from templates/fuzz/strategies.py by `vfiogen build`.
"""Hypothesis strategies for every struct, counted tail and capability chain.

From the spec, through fuzz.facts: `record(cls)` draws a
valid struct (random bytes, then every field with a value set holding values
it allows, a counted tail whose count says how many elements follow, the size
field the total size); `bad_record(cls)` breaks one of those facts on purpose
(size below minsz or beyond the buffer, unknown flag bits, a value outside its
set, a count that lies); `chain(scope)` draws an INFO buffer with a valid
capability chain (known capabilities with valid bodies and tails, unknown ids
with opaque bodies, 4-aligned, gaps between them) and what walk() must return;
`bad_chain(scope)` corrupts one: a loop, a next past the end, a misaligned
header, an offset into the fixed struct, a buffer shorter than the struct, a
truncated header, a body overrunning the next capability, a tail count that
lies. Every bad chain must raise vfio.errors.DecodeError.
"""

from __future__ import annotations

import ctypes
import sys
from typing import NamedTuple

from hypothesis import strategies as st

from fuzz.facts import RECORDS, Struct, minsz, offset_of, scalar_fields, size_of
from vfio import caps as _caps

HEADER_SIZE = _caps.HEADER_SIZE
ID = (offset_of(_caps.HEADER, "id"), size_of(_caps.HEADER, "id"))
VERSION = (offset_of(_caps.HEADER, "version"), size_of(_caps.HEADER, "version"))
NEXT = offset_of(_caps.HEADER, "next")
RECORD_MUTATIONS = (
    "size_too_small",
    "size_too_large",
    "unknown_flags",
    "unknown_value",
    "count_lies",
)
CHAIN_CORRUPTIONS = (
    "loop",
    "past_end",
    "misaligned",
    "into_struct",
    "short_buffer",
    "truncated_header",
    "body_overrun",
    "tail_lies",
)


class Chain(NamedTuple):
    scope: str
    data: bytes
    first: int
    expected: tuple[tuple[int, int, int, int], ...]  # (id, version, offset, end) of each


class BadChain(NamedTuple):
    scope: str
    data: bytes
    first: int
    corruption: str


class BadRecord(NamedTuple):
    mutation: str
    data: bytes


def put(buf: bytearray, offset: int, size: int, value: int) -> None:
    buf[offset : offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, sys.byteorder)


def get(buf: bytes | bytearray, offset: int, size: int) -> int:
    return int.from_bytes(buf[offset : offset + size], sys.byteorder)


def member(cls: Struct, name: str) -> tuple[int, int]:
    """(offset, size) of a member, also one reached through an anonymous member."""
    return offset_of(cls, name), size_of(cls, name)


def known_bits(mask: int) -> st.SearchStrategy[int]:
    return st.integers(0, mask).map(lambda v: v & mask)


def tail_offset(cls: Struct) -> int:
    facts = RECORDS[cls]
    assert facts.tail is not None
    return offset_of(cls, facts.tail[1])


def element_of(cls: Struct) -> Struct | type[ctypes._SimpleCData]:  # type: ignore[type-arg]
    return _caps.COUNTED_TAILS[cls].element


@st.composite
def record(draw: st.DrawFn, cls: Struct, max_elements: int = 4) -> bytes:
    """A valid struct, followed by its counted tail when it has one."""
    size = ctypes.sizeof(cls)
    buf = bytearray(draw(st.binary(min_size=size, max_size=size)))
    for name, offset, width, owner in scalar_fields(cls):
        facts = RECORDS.get(owner)
        if facts is None:
            continue
        if name in facts.flags:
            put(buf, offset, width, draw(known_bits(facts.flags[name])))
        elif name in facts.values:
            put(buf, offset, width, draw(st.sampled_from(facts.values[name])))
    facts = RECORDS[cls]
    if facts.tail is not None and cls in _caps.COUNTED_TAILS:
        n = draw(st.integers(0, max_elements))
        elem = element_of(cls)
        if elem in RECORDS:
            items = [draw(record(elem)) for _ in range(n)]
        else:
            items = [
                draw(st.binary(min_size=ctypes.sizeof(elem), max_size=ctypes.sizeof(elem)))
                for _ in range(n)
            ]
        start = tail_offset(cls)
        buf = buf[:start] + b"".join(items)
        buf += bytes(max(0, size - len(buf)))
        put(buf, *member(cls, facts.tail[0]), n)
    if facts.size_field is not None:
        put(buf, *member(cls, facts.size_field), len(buf))
    return bytes(buf)


def record_mutations(cls: Struct) -> tuple[str, ...]:
    """The mutations that apply to a struct (its facts say what can be broken)."""
    facts = RECORDS[cls]
    out = []
    if facts.size_field is not None:
        if minsz(cls) > 0:
            out.append("size_too_small")
        out.append("size_too_large")
    if any(mask != (1 << (8 * member(cls, f)[1])) - 1 for f, mask in facts.flags.items()):
        out.append("unknown_flags")
    if any(len(v) < 1 << (8 * member(cls, f)[1]) for f, v in facts.values.items()):
        out.append("unknown_value")
    if facts.tail is not None and cls in _caps.COUNTED_TAILS:
        out.append("count_lies")
    return tuple(out)


@st.composite
def bad_record(draw: st.DrawFn, cls: Struct) -> BadRecord:
    """A struct with one fact broken (a mutation of record_mutations(cls))."""
    mutation = draw(st.sampled_from(record_mutations(cls)))
    buf = bytearray(draw(record(cls)))
    facts = RECORDS[cls]
    if mutation == "size_too_small":
        put(buf, *member(cls, facts.size_field or ""), draw(st.integers(0, minsz(cls) - 1)))
    elif mutation == "size_too_large":
        put(buf, *member(cls, facts.size_field or ""), len(buf) + draw(st.integers(1, 1 << 20)))
    elif mutation == "unknown_flags":
        name = draw(st.sampled_from(sorted(facts.flags)))
        offset, width = member(cls, name)
        unknown = [1 << i for i in range(8 * width) if not facts.flags[name] >> i & 1]
        if unknown:
            put(buf, offset, width, get(buf, offset, width) | draw(st.sampled_from(unknown)))
    elif mutation == "unknown_value":
        name = draw(st.sampled_from(sorted(facts.values)))
        offset, width = member(cls, name)
        top = (1 << (8 * width)) - 1
        value = draw(st.integers(0, top).filter(lambda v: v not in facts.values[name]))
        put(buf, offset, width, value)
    elif mutation == "count_lies":
        assert facts.tail is not None
        offset, width = member(cls, facts.tail[0])
        room = (len(buf) - tail_offset(cls)) // ctypes.sizeof(element_of(cls))
        put(buf, offset, width, room + draw(st.integers(1, 1 << 16)))
    return BadRecord(mutation, bytes(buf))


@st.composite
def capability(draw: st.DrawFn, scope: str) -> bytes:
    """One capability (its `next` 0): a known id with a valid body, a known
    id without one, or an unknown id with opaque bytes."""
    known = sorted((ident, ct) for (s, ident), ct in _caps.CAPABILITIES.items() if s == scope)
    pick = draw(st.sampled_from([*known, None]))
    if pick is not None and pick[1].body is not None:
        body = bytearray(draw(record(pick[1].body, max_elements=3)))
    else:
        body = bytearray(HEADER_SIZE) + draw(st.binary(max_size=24))
    if pick is None:
        ids = {ident for ident, _ in known}
        ident = draw(st.integers(0, 0xFFFF).filter(lambda i: i not in ids))
        version = draw(st.integers(0, 0xFFFF))
    else:
        ident, version = pick[0], pick[1].version
    put(body, *member(_caps.HEADER, "id"), ident)
    put(body, *member(_caps.HEADER, "version"), version)
    return bytes(body)


@st.composite
def chain(draw: st.DrawFn, scope: str, min_caps: int = 0) -> Chain:
    """An INFO buffer and the chain in it; `expected` is what walk() returns."""
    sc = _caps.SCOPES[scope]
    base = ctypes.sizeof(sc.info)
    caps = draw(st.lists(capability(scope), min_size=min_caps, max_size=5))
    align = draw(st.sampled_from((4, 8)))
    buf = bytearray(draw(record(sc.info)))[:base]
    offsets = []
    for cap in caps:
        buf += bytes(-len(buf) % align + 4 * draw(st.integers(0, 2)))
        offsets.append(len(buf))
        buf += cap
    buf += draw(st.binary(max_size=8))  # the last capability runs to the end of the buffer
    ends = offsets[1:] + [len(buf)]
    for i, off in enumerate(offsets):
        put(buf, off + NEXT, 4, offsets[i + 1] if i + 1 < len(offsets) else 0)
    first = offsets[0] if offsets else 0
    put(buf, *member(sc.info, sc.offset_field), first)
    flags_at, flags_size = member(sc.info, "flags")
    put(buf, flags_at, flags_size, get(buf, flags_at, flags_size) | (sc.flag if caps else 0))
    facts = RECORDS[sc.info]
    if facts.size_field is not None:
        put(buf, *member(sc.info, facts.size_field), len(buf))
    expected = tuple(
        (get(buf, off + ID[0], ID[1]), get(buf, off + VERSION[0], VERSION[1]), off, end)
        for off, end in zip(offsets, ends)
    )
    return Chain(scope, bytes(buf), first, expected)


@st.composite
def bad_chain(draw: st.DrawFn, scope: str) -> BadChain:
    """A chain with one corruption that walk() must reject."""
    c = draw(chain(scope, min_caps=1))
    buf = bytearray(c.data)
    first = c.first
    base = ctypes.sizeof(_caps.SCOPES[scope].info)
    caps = list(c.expected)
    bodies = [
        i
        for i, (ident, _, _, _) in enumerate(caps)
        if (b := _caps.CAPABILITIES.get((scope, ident))) is not None and b.body is not None
    ]
    tails = [
        i for i in bodies if _caps.CAPABILITIES[(scope, caps[i][0])].body in _caps.COUNTED_TAILS
    ]
    options = ["loop", "past_end", "misaligned", "into_struct", "short_buffer", "truncated_header"]
    options += ["body_overrun"] if bodies else []
    options += ["tail_lies"] if tails else []
    corruption = draw(st.sampled_from(options))
    i = draw(st.integers(0, len(caps) - 1))
    offset = caps[i][2]
    if corruption == "loop":
        put(buf, offset + NEXT, 4, caps[draw(st.integers(0, i))][2])
    elif corruption == "past_end":
        put(buf, offset + NEXT, 4, len(buf) + 4 * draw(st.integers(0, 16)))
    elif corruption == "misaligned":
        put(buf, offset + NEXT, 4, offset + 4 * draw(st.integers(1, 8)) + draw(st.integers(1, 3)))
    elif corruption == "into_struct":
        first = draw(st.integers(1, base - 1))
        put(buf, *member(_caps.SCOPES[scope].info, _caps.SCOPES[scope].offset_field), first)
    elif corruption == "short_buffer":
        buf = buf[: draw(st.integers(0, base - 1))]
    elif corruption == "truncated_header":
        buf = buf[: caps[-1][2] + draw(st.integers(0, HEADER_SIZE - 1))]
    elif corruption == "body_overrun":
        i = draw(st.sampled_from(bodies))
        offset = caps[i][2]
        body = _caps.CAPABILITIES[(scope, caps[i][0])].body
        assert body is not None
        put(
            buf, offset + NEXT, 4, offset + 4 * draw(st.integers(1, (ctypes.sizeof(body) - 1) // 4))
        )
    elif corruption == "tail_lies":
        i = draw(st.sampled_from(tails))
        ident, _, offset, end = caps[i]
        body = _caps.CAPABILITIES[(scope, ident)].body
        assert body is not None
        count_at, count_size = member(body, RECORDS[body].tail[0])  # type: ignore[index]
        room = (end - offset - tail_offset(body)) // ctypes.sizeof(element_of(body))
        put(buf, offset + count_at, count_size, room + draw(st.integers(1, 1 << 16)))
    return BadChain(scope, bytes(buf), first, corruption)
