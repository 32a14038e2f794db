# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""Exact kernel layouts with ctypes, on every ABI the spec knows.

ctypes' natural layout is not always the kernel's: `__aligned_u64` is
8-aligned on i386 where a plain 64-bit integer is 4-aligned, and Python 3.11
has no `_align_`. So each struct gets `_pack_` = the ABI's largest scalar
alignment and explicit padding up to the offsets the spec computed (and gcc
confirmed); `long` and pointers are fixed-width integers of the ABI's word.
Every size and offset is checked when the module is imported.

`VFIO_ABI=i386` (or aarch64, x86_64, powerpc64) in the environment builds
another ABI's layout on this machine, for inspection and tests.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

_MACHINES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "i386": "i386",
    "i486": "i386",
    "i586": "i386",
    "i686": "i386",
    "x86": "i386",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "ppc64": "powerpc64",
    "ppc64le": "powerpc64",  # uname -m of a little-endian POWER guest (Debian ppc64el)
}


def current_abi() -> str:
    """The ABI of this process (or of $VFIO_ABI when set)."""
    override = os.environ.get("VFIO_ABI")
    if override:
        return override
    machine = platform.machine().lower()
    abi = _MACHINES.get(machine)
    if abi is None:
        raise ImportError(f"vfio: no layout for machine {machine!r}")
    if abi == "x86_64" and ctypes.sizeof(ctypes.c_void_p) == 4:
        return "i386"  # a 32-bit Python on a 64-bit kernel
    return abi


ABI = current_abi()
WORD = 4 if ABI == "i386" else 8
PACK = 4 if ABI == "i386" else 8

_char = ctypes.c_char
_bool = ctypes.c_bool
_s8, _u8 = ctypes.c_int8, ctypes.c_uint8
_s16, _u16 = ctypes.c_int16, ctypes.c_uint16
_s32, _u32 = ctypes.c_int32, ctypes.c_uint32
_s64, _u64 = ctypes.c_int64, ctypes.c_uint64
_slong = ctypes.c_int32 if WORD == 4 else ctypes.c_int64
_ulong = ctypes.c_uint32 if WORD == 4 else ctypes.c_uint64
_ptr = _ulong  # a user-space address, as an integer


def pick(values: Mapping[str, Any]) -> Any:
    """The value for this ABI of something that differs between ABIs."""
    try:
        return values[ABI]
    except KeyError:
        raise ImportError(
            f"vfio: generated without ABI {ABI!r} (has {', '.join(values)})"
        ) from None


Layout = tuple[tuple[str, ...], int, int, tuple[int, ...]]

TailPlan = tuple[str, str, "str | None", dict[int, Any]]
"""A struct's counted tail (its TAIL, from the spec's tail descriptors): the
tail field, the count field, the flags field that selects the element type
(None: one type, under key 0), and flag -> element type (None: no data)."""

# struct-module codes of the fixed-width ctypes types ("=": standard sizes,
# native byte order; padding is explicit)
_CODES: dict[Any, str] = {
    ctypes.c_int8: "b",
    ctypes.c_uint8: "B",
    ctypes.c_int16: "h",
    ctypes.c_uint16: "H",
    ctypes.c_int32: "i",
    ctypes.c_uint32: "I",
    ctypes.c_int64: "q",
    ctypes.c_uint64: "Q",
    ctypes.c_bool: "?",
}


class Codec:
    """pack()/unpack() of a struct whose members are all integers, through a
    precompiled struct.Struct with the kernel's padding: the fast path for
    encoding and decoding, values in field order. The Struct is built on first
    use (not at import); from then on pack/unpack are struct's own C methods
    and check as struct does (struct.error on a short buffer); for checked
    decoding of untrusted data use vfio.caps.decode()."""

    __slots__ = ()  # with each struct's own: no instance __dict__, a misspelt field raises
    _plan_: tuple[Sequence[tuple[str, Any]], Sequence[int], int, bool] = ((), (), 0, True)
    TAIL: ClassVar[TailPlan | None] = None

    @classmethod
    def codec(cls) -> struct.Struct | None:
        """The struct.Struct of this layout, or None when a member is not an integer."""
        if "codec_" not in cls.__dict__:
            built = _codec(*cls._plan_)
            setattr(cls, "codec_", built)
            if built is not None:  # later calls go straight to C
                setattr(cls, "unpack", built.unpack_from)
                setattr(cls, "pack", built.pack)
        return cls.__dict__["codec_"]  # type: ignore[no-any-return]

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        """copy, deepcopy and pickle as the kernel's bytes (ctypes' own
        __reduce__ needs the instance __dict__ that __slots__ removes)."""
        struct: Any = self  # a ctypes struct: Codec is only ever mixed into one
        return type(struct).from_buffer_copy, (bytes(struct),)

    def __repr__(self) -> str:
        """`vfio_region_info(argsz=32, flags=<VfioRegionInfoFlags.READ|WRITE: 3>, ...)`:
        every field in C order, values named by their flag/enum class; a
        counted tail as its elements when the struct lives in a buffer that
        holds them (from_buffer() of a vfio.tails.build() buffer)."""
        values = getattr(type(self), "FIELD_VALUES", {})
        tail = type(self).TAIL
        parts = []
        for name, _ in type(self)._plan_[0]:
            if tail is not None and name == tail[0]:
                parts.append(f"{name}={_tail_text(self, tail)}")
                continue
            value = getattr(self, name)
            if name in values:
                try:
                    value = values[name](value)
                except ValueError:
                    pass
            parts.append(f"{name}={_short(value)}")
        return f"{type(self).__name__}({', '.join(parts)})"

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[Any, ...]:
        codec = cls.codec()
        if codec is None:
            raise TypeError(f"{cls.__name__} has non-integer members: use from_buffer_copy()")
        return codec.unpack_from(data, offset)

    @classmethod
    def pack(cls, *values: Any) -> bytes:
        codec = cls.codec()
        if codec is None:
            raise TypeError(f"{cls.__name__} has non-integer members: build it with ctypes")
        return codec.pack(*values)


def _short(value: Any) -> str:
    """A field's value for __repr__: arrays as lists, long ones cut."""
    if isinstance(value, ctypes.Array):
        more = ", ..." if len(value) > 8 else ""
        return "[" + ", ".join(_short(v) for v in value[:8]) + more + "]"
    return repr(value)


def tail_element(cls: type, tail: TailPlan, selector_value: int) -> Any:
    """The element type of `cls`'s counted tail when its selecting field
    holds `selector_value` (None: the selected case carries no data)."""
    _, _, selector, cases = tail
    if selector is None:
        return cases[0]
    chosen = [flag for flag in cases if selector_value & flag == flag and flag]
    if len(chosen) != 1:
        names = ", ".join(f"{flag:#x}" for flag in cases)
        raise ValueError(
            f"{cls.__name__}.{selector} = {selector_value:#x} must select one of {names}"
        )
    return cases[chosen[0]]


def _tail_text(struct: Any, tail: TailPlan) -> str:
    """A counted tail for __repr__: the elements the buffer holds past the
    struct (at most `count`), or how many lie outside this object's memory."""
    field, count_field, selector, _ = tail
    count = getattr(struct, count_field)
    if count <= 0:
        return "[]"
    try:
        elem = tail_element(type(struct), tail, getattr(struct, selector) if selector else 0)
    except ValueError:
        return f"<{count} of no single type: {selector} selects none or several>"
    if elem is None:
        return "[]"
    start, size = getattr(type(struct), field).offset, ctypes.sizeof(elem)
    memory = _memory_from(struct)
    if memory is None:
        return f"<{count} beyond this object>"
    shown = min(count, max(0, (len(memory) - start) // size))
    if not shown:
        return f"<{count} beyond the buffer>"
    text = _short((elem * shown).from_buffer_copy(memory, start))
    return text if shown == count else text[:-1] + f", <{count - shown} beyond the buffer>]"


def _memory_from(struct: Any) -> memoryview | None:
    """The bytes from `struct`'s address to the end of the buffer it was
    made on with from_buffer() (ctypes keeps that buffer in `_objects`), or
    None for a struct with memory of its own."""
    kept = getattr(struct, "_objects", None)
    if not isinstance(kept, dict):
        return None
    for held in kept.values():
        if isinstance(held, memoryview):
            try:
                whole = held.cast("B")
                base = ctypes.addressof((ctypes.c_char * 0).from_buffer(whole))
            except (TypeError, ValueError):  # read-only, released or not contiguous
                continue
            start = ctypes.addressof(struct) - base
            if 0 <= start <= len(whole):
                return whole[start:]
    return None


def _codec(
    fields: Sequence[tuple[str, Any]], offsets: Sequence[int], size: int, is_union: bool
) -> struct.Struct | None:
    if is_union:
        return None
    fmt, pos = "=", 0
    for (_, ctype), offset in zip(fields, offsets):
        code = _CODES.get(ctype)
        if code is None and issubclass(ctype, ctypes.Array):
            if ctype._length_ == 0:
                continue  # a flexible array: no bytes of its own
            if ctype._type_ in (ctypes.c_uint8, ctypes.c_char):
                code = f"{ctype._length_}s"  # one bytes value
        if code is None:
            return None
        if offset > pos:
            fmt += f"{offset - pos}x"
        fmt += code
        pos = offset + ctypes.sizeof(ctype)
    if size > pos:
        fmt += f"{size - pos}x"
    return struct.Struct(fmt)


def layout(
    cls: type[ctypes.Structure] | type[ctypes.Union],
    fields: Sequence[tuple[str, Any]],
    layouts: Sequence[Layout],
    anonymous: Sequence[str] = (),
) -> None:
    """Give `cls` its `_fields_` for this ABI, padded to the kernel's offsets,
    and check the result."""
    for abis, size, align, offsets in layouts:
        if ABI in abis:
            break
    else:
        raise ImportError(f"vfio: {cls.__name__} has no layout for ABI {ABI!r}")
    is_union = issubclass(cls, ctypes.Union)
    out: list[tuple[str, Any]] = []
    pos = 0
    for (name, ctype), offset in zip(fields, offsets):
        if not is_union:
            if offset > pos:
                out.append((f"_vfio_pad{len(out)}", ctypes.c_uint8 * (offset - pos)))
            pos = offset + ctypes.sizeof(ctype)
        out.append((name, ctype))
    if is_union:
        out.append(("_vfio_size", ctypes.c_uint8 * size))
    elif size > pos:
        out.append(("_vfio_tail", ctypes.c_uint8 * (size - pos)))
    cls._pack_ = PACK
    if anonymous:
        cls._anonymous_ = tuple(anonymous)
    cls._fields_ = out
    setattr(cls, "_kernel_size_", size)
    setattr(cls, "_kernel_align_", align)
    setattr(cls, "_plan_", (tuple(fields), tuple(offsets), size, is_union))
    if ctypes.sizeof(cls) != size:
        raise ImportError(
            f"vfio: sizeof({cls.__name__}) is {ctypes.sizeof(cls)}, kernel says {size}"
        )
    for (name, _), offset in zip(fields, offsets):
        if getattr(cls, name).offset != offset:
            raise ImportError(
                f"vfio: {cls.__name__}.{name} at {getattr(cls, name).offset}, kernel says {offset}"
            )
