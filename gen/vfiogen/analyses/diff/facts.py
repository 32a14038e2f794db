"""The facts a severity rule reads: what matching found out about one change,
and nothing about how bad it is. Each rule of `rules` is a condition over one
of these; its reason is a template over their attributes. NamedTuples: as
typed as dataclasses, and far cheaper to define at import."""

from __future__ import annotations

import re
from typing import NamedTuple

# Fields that exist only to be zeroed: callers never give them meaning, so
# the kernel may carve new fields out of them or resize them.
RESERVED = re.compile(r"^_*(reserved|resv|rsvd|pad|padding|unused)_?\d*$", re.IGNORECASE)
# Enumerators/macros that count or bound the others: they grow when entries
# are appended, which old binaries cannot notice.
SENTINEL = re.compile(r"(^|_)(NUM|NR|MAX|COUNT|LAST)(_|$)")


def is_reserved(name: str) -> bool:
    return bool(RESERVED.match(name))


class Nothing(NamedTuple):
    """For a change whose severity never depends on anything else."""


NOTHING = Nothing()


class Renaming(NamedTuple):
    """A name only one side has, and the name `renames` paired it with on the
    other side (None: none). `kind` is "struct", "union" or "enum" for types;
    `value` the constant's value as shown; `reserved`: the OLD name of a field
    is a reserved one."""

    name: str
    other: str | None
    kind: str = ""
    value: str = ""
    reserved: bool = False

    @property
    def renamed(self) -> bool:
        return self.other is not None


class RequestAddition(NamedTuple):
    """A request only NEW has, on one ABI: `reused_from` is the OLD request
    that answered to its number on the same fd kind and no longer does."""

    name: str
    reused_from: str | None


class Retyping(NamedTuple):
    """A request argument, capability body or feature payload now names
    another struct; `same_layout`: every ABI lays both out alike."""

    same_layout: bool


class SizeChange(NamedTuple):
    """A minimum argsz (offsetofend of the `minsz` field) on one ABI."""

    before: int
    after: int

    @property
    def grew(self) -> bool:
        return self.after > self.before


class DirectionChange(NamedTuple):
    """Which way a field of a request's argument travels."""

    before: str
    after: str

    @property
    def kernel_now_reads(self) -> bool:
        """It was only written by the kernel and is now read by it."""
        return self.before == "out" and self.after in ("in", "inout")


class RecordResize(NamedTuple):
    """A record whose size or alignment differs on one ABI. `members_kept`:
    every OLD member is at its old place in NEW (reserved ones aside);
    `embedded_in`: a record that holds it by value; `negotiated`: why the
    kernel learns the caller's size, when it does."""

    old_size: int
    new_size: int
    members_kept: bool
    embedded_in: str | None
    negotiated: str | None

    @property
    def shrank(self) -> bool:
        return self.new_size < self.old_size

    @property
    def same_size(self) -> bool:
        return self.new_size == self.old_size


class FieldPlacement(NamedTuple):
    """Where a field only NEW has lies, on one ABI, relative to OLD's members.
    `overlaps`: OLD members whose bytes it covers; `union_alternative`: it is
    in a union and every member it overlaps kept its place."""

    record: str
    offset: int
    size: int
    old_size: int
    overlaps: tuple[str, ...]
    union_alternative: bool
    embedded_in: str | None
    negotiated: str | None

    @property
    def flexible_at_tail(self) -> bool:
        return self.size == 0 and self.offset >= self.old_size

    @property
    def in_reserved(self) -> bool:
        return bool(self.overlaps) and all(is_reserved(k) for k in self.overlaps)

    @property
    def in_padding(self) -> bool:
        return not self.overlaps and self.offset + self.size <= self.old_size


class FieldRemoval(NamedTuple):
    """A field only OLD has: `other` its new name when renamed in place,
    `users` the new fields that took its bytes."""

    name: str
    other: str | None
    users: tuple[str, ...]

    @property
    def renamed(self) -> bool:
        return self.other is not None

    @property
    def reserved(self) -> bool:
        return is_reserved(self.name)

    @property
    def user_list(self) -> str:
        return ", ".join(self.users)


class FieldRetype(NamedTuple):
    """A field whose type is spelled differently. `same_place`: its offset and
    size are unchanged on every ABI; `align_note` says what alignment does."""

    name: str
    old_kind: str
    new_kind: str
    same_place: bool
    align_note: str

    @property
    def reserved(self) -> bool:
        return is_reserved(self.name)

    @property
    def kinds_compatible(self) -> bool:
        return self.old_kind == self.new_kind or {self.old_kind, self.new_kind} <= {"int", "enum"}


class FieldMove(NamedTuple):
    """A field whose offset or size differs on one ABI, or that moved into or
    out of an anonymous struct or union (`same_offset` on every ABI)."""

    name: str
    same_offset: bool = False

    @property
    def reserved(self) -> bool:
        return is_reserved(self.name)


class ConstantChange(NamedTuple):
    """A constant's value on one ABI."""

    name: str
    before: int | str
    after: int | str

    @property
    def count_grew(self) -> bool:
        """A count or bound (`..._NUM_...`) that grew with appended entries."""
        return (
            bool(SENTINEL.search(self.name))
            and isinstance(self.before, int)
            and isinstance(self.after, int)
            and self.after > self.before
        )


class KindChange(NamedTuple):
    """A macro that became an enumerator, or back; `value_changed` on some ABI."""

    value_changed: bool


class FlagAddition(NamedTuple):
    """A flag only NEW has; `taken_from`: the OLD flag of the same set whose
    bit it now is."""

    taken_from: str | None


class OpsChange(NamedTuple):
    """The operations a device feature supports."""

    lost: tuple[str, ...]
    gained: tuple[str, ...]

    @property
    def lost_list(self) -> str:
        return ", ".join(self.lost)
