"""The diff's severity rules, one synthetic change each on a copy of a
pinned release's spec: the rule's name says which severity it must give
and why (an old binary or old source stops working = breaking)."""

from __future__ import annotations

import copy

import pytest

from support import RELEASES, release_spec
from vfiogen.analyses.diff import compare as diff
from vfiogen.analyses.diff.model import Change
from vfiogen.ir.model import Spec

REQ = "VFIO_DEVICE_GET_INFO"  # struct vfio_device_info, fields argsz..pad


def pair() -> tuple[Spec, Spec]:
    return copy.deepcopy(release_spec("7.2")), copy.deepcopy(release_spec("7.2"))


def changes_of(old: Spec, new: Spec, name: str) -> list[Change]:
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


# Every breaking change between consecutive pinned releases, checked by hand
# against the kernel's history: the v2 migration API (6.1) gave STOP and
# RUNNING new values (old binaries send the wrong state) and renamed the v1
# names; 6.13 retired the nesting IOMMU type under a reserved name.
KNOWN_BREAKING = {
    ("5.16", "6.1", "VFIO_DEVICE_STATE_STOP", "changed"),  # 0 -> 1
    ("5.16", "6.1", "VFIO_DEVICE_STATE_RUNNING", "changed"),  # 1 -> 2
    ("5.16", "6.1", "VFIO_REGION_TYPE_MIGRATION", "removed"),  # renamed ..._DEPRECATED
    ("5.16", "6.1", "VFIO_REGION_SUBTYPE_MIGRATION", "removed"),
    ("5.16", "6.1", "VFIO_DEVICE_STATE_SAVING", "removed"),  # renamed ..._V1_SAVING
    ("6.12", "6.13", "VFIO_TYPE1_NESTING_IOMMU", "removed"),  # __VFIO_RESERVED_...
    # Debian's 6.12 is a 6.12.y stable release whose iommufd.h carries PASID
    # capabilities backported from a later mainline; 6.13.4 does not have them.
    ("6.12", "6.13", "IOMMU_HW_CAP_PCI_PASID_EXEC", "removed"),
    ("6.12", "6.13", "IOMMU_HW_CAP_PCI_PASID_PRIV", "removed"),
    ("6.12", "6.13", "iommu_hw_info.out_max_pasid_log2", "removed"),
}


def test_breaking_changes_of_the_pinned_releases_are_exactly_the_known_ones() -> None:
    found = set()
    for old, new in zip(RELEASES, RELEASES[1:]):
        for c in diff.diff(release_spec(old), release_spec(new), old, new).changes:
            if c.change == "removed":
                assert c.severity == "breaking", c  # a name old source uses is gone
            if c.severity == "breaking":
                found.add((old, new, c.name, c.change))
    assert found == KNOWN_BREAKING


def test_same_value_macro_to_enumerator_is_compatible() -> None:
    """VFIO_DEVICE_STATE_RESUMING kept 4 when it became an enumerator (6.1)."""
    (c,) = [
        c
        for c in diff.diff(release_spec("5.16"), release_spec("6.1"), "5.16", "6.1").changes
        if c.name == "VFIO_DEVICE_STATE_RESUMING"
    ]
    assert (c.change, c.severity) == ("changed", "compatible") and "same value 4" in c.detail
