"""The conditions the diff's severity rules read (vfiogen.analyses.diff.facts),
each at its boundary: a minimum argsz that grew by nothing or by one byte, a
field that ends exactly at the old size, a flexible array exactly at the old
end, a direction read back from a file (not an interned literal), a count
sentinel that stayed the same. Every expected value is C/kernel semantics,
written here by hand."""

from __future__ import annotations

import json

import pytest

from vfiogen.analyses.diff import facts as f


def fresh(text: str) -> str:
    """The string as a spec file gives it: a new object, not a literal."""
    return str(json.loads(json.dumps(text)))


@pytest.mark.parametrize(
    "before, after, now_read",
    [
        ("out", "in", True),
        ("out", "inout", True),
        ("out", "out", False),
        ("in", "inout", False),
        ("in", "out", False),
        ("inout", "in", False),
        ("inout", "out", False),
    ],
)
def test_kernel_now_reads_a_field_it_only_wrote(before: str, after: str, now_read: bool) -> None:
    assert f.DirectionChange(fresh(before), fresh(after)).kernel_now_reads is now_read


@pytest.mark.parametrize("before, after, grew", [(16, 17, True), (16, 16, False), (16, 15, False)])
def test_minimum_argsz_grew_by_one_byte(before: int, after: int, grew: bool) -> None:
    assert f.SizeChange(before, after).grew is grew


@pytest.mark.parametrize(
    "old, new, shrank, same",
    [(1000, 999, True, False), (1000, 1000, False, True), (1000, 1001, False, False)],
)
def test_record_resize(old: int, new: int, shrank: bool, same: bool) -> None:
    r = f.RecordResize(int(str(old)), int(str(new)), True, None, None)  # not cached small ints
    assert (r.shrank, r.same_size) == (shrank, same)


def placement(offset: int, size: int, old_size: int, overlaps: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return f.FieldPlacement("r", offset, size, old_size, overlaps, False, None, None)


@pytest.mark.parametrize(
    "offset, size, old_size, flexible",
    [(24, 0, 24, True), (32, 0, 24, True), (20, 0, 24, False), (24, 4, 24, False)],
)
def test_flexible_array_at_the_old_tail(
    offset: int, size: int, old_size: int, flexible: bool
) -> None:
    assert placement(offset, size, old_size).flexible_at_tail is flexible


@pytest.mark.parametrize(
    "offset, size, old_size, overlaps, padding",
    [
        (4, 4, 8, (), True),  # ends exactly at the old end: inside
        (4, 4, 7, (), False),  # one byte past it
        (5, 2, 8, (), True),
        (0, 4, 8, ("flags",), False),  # covers an old member
    ],
)
def test_field_in_old_padding(
    offset: int, size: int, old_size: int, overlaps: tuple[str, ...], padding: bool
) -> None:
    assert placement(offset, size, old_size, overlaps).in_padding is padding


@pytest.mark.parametrize(
    "overlaps, reserved",
    [
        (("reserved",), True),
        (("pad", "__reserved_2"), True),
        (("reserved", "flags"), False),
        ((), False),
    ],
)
def test_field_carved_from_reserved(overlaps: tuple[str, ...], reserved: bool) -> None:
    assert placement(0, 4, 8, overlaps).in_reserved is reserved


@pytest.mark.parametrize(
    "old, new, compatible",
    [
        ("int", "int", True),
        ("int", "enum", True),  # an enum stored in an integer of its size
        ("enum", "int", True),
        ("record", "record", True),
        ("array", "record", False),
        ("record", "int", False),
        ("int", "pointer", False),
        ("pointer", "array", False),
    ],
)
def test_retype_kinds_compatible(old: str, new: str, compatible: bool) -> None:
    r = f.FieldRetype("x", fresh(old), fresh(new), True, "")
    assert r.kinds_compatible is compatible


@pytest.mark.parametrize(
    "name, before, after, grew",
    [
        ("VFIO_PCI_NUM_IRQS", 5, 6, True),
        ("VFIO_PCI_NUM_IRQS", 5, 5, False),
        ("VFIO_PCI_NUM_IRQS", 6, 5, False),
        ("VFIO_DEVICE_STATE_NR", 7, 8, True),
        ("VFIO_PCI_NUMBERS", 5, 6, False),  # not a sentinel word
        ("VFIO_PCI_NUM_IRQS", "a", "b", False),
    ],
)
def test_count_sentinel_grew(name: str, before: object, after: object, grew: bool) -> None:
    assert f.ConstantChange(name, before, after).count_grew is grew  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name, reserved",
    [
        ("reserved", True),
        ("__reserved", True),
        ("pad2", True),
        ("resv_1", True),
        ("flags", False),
        ("reserved_bits_x", False),
    ],
)
def test_reserved_names(name: str, reserved: bool) -> None:
    assert f.is_reserved(name) is reserved


def test_defaults_say_nothing_happened() -> None:
    """A renaming or move built without the optional facts claims neither a
    reserved old name nor an unchanged offset."""
    assert f.Renaming("x", None).reserved is False and f.Renaming("x", None).renamed is False
    assert f.Renaming("x", "y").renamed is True
    assert f.FieldMove("x").same_offset is False
    assert f.FieldRemoval("x", None, ("a", "b")).user_list == "a, b"
