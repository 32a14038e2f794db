"""The diff's severity rules, one synthetic change each on a copy of a
pinned release's spec: the rule's name says which severity it must give
and why (an old binary or old source stops working = breaking)."""

from __future__ import annotations

import copy

import pytest

from support import release_spec
from vfiogen.analyses import diff
from vfiogen.ir.model import Spec

REQ = "VFIO_DEVICE_GET_INFO"  # struct vfio_device_info, fields argsz..pad


def pair() -> tuple[Spec, Spec]:
    return copy.deepcopy(release_spec("7.2")), copy.deepcopy(release_spec("7.2"))


def changes_of(old: Spec, new: Spec, name: str) -> list[diff.Change]:
    return [c for c in diff.diff(old, new).changes if c.name == name]


@pytest.mark.parametrize(
    "before, after, severity",
    [
        ("out", "in", "breaking"),  # the kernel now reads what old binaries leave unset
        ("out", "inout", "breaking"),
        ("in", "out", "compatible"),
        ("inout", "out", "compatible"),
        ("in", "inout", "compatible"),
        ("inout", "in", "compatible"),
    ],
)
def test_direction_change_that_makes_the_kernel_read_a_field_is_breaking(
    before: str, after: str, severity: str
) -> None:
    old, new = pair()
    old.requests[REQ].directions["flags"] = before
    new.requests[REQ].directions["flags"] = after
    (c,) = changes_of(old, new, REQ)
    assert (c.entity, c.change, c.severity, c.abi) == ("request", "changed", severity, None)
    assert c.detail.startswith(f"direction of flags {before} -> {after}; ")
    rep = diff.diff(old, new)
    assert rep.breaking == (severity == "breaking")


def test_direction_given_for_the_first_time_is_no_change() -> None:
    old, new = pair()
    del old.requests[REQ].directions["flags"]
    assert changes_of(old, new, REQ) == []


@pytest.mark.parametrize(
    "old_minsz, new_minsz, severity",
    [("flags", "num_regions", "breaking"), ("num_regions", "flags", "compatible")],
)
def test_minimum_argsz_growth_is_breaking(old_minsz: str, new_minsz: str, severity: str) -> None:
    """The minimum argsz is offsetofend(minsz field): a larger one makes the
    kernel refuse old callers (EINVAL), a smaller one accepts them all."""
    old, new = pair()
    old.requests[REQ].minsz, new.requests[REQ].minsz = old_minsz, new_minsz
    (c,) = changes_of(old, new, REQ)
    assert (c.severity, c.abi) == (severity, None)
    assert c.detail.startswith(
        "minimum argsz 8 -> 12" if severity == "breaking" else "minimum argsz 12 -> 8"
    )


def test_request_direction_rule_is_per_field() -> None:
    old, new = pair()
    for f in ("flags", "num_irqs"):
        old.requests[REQ].directions[f] = "out"
    new.requests[REQ].directions["flags"] = "in"
    new.requests[REQ].directions["num_irqs"] = "out"
    (c,) = changes_of(old, new, REQ)
    assert c.severity == "breaking" and "flags" in c.detail and "num_irqs" not in c.detail
