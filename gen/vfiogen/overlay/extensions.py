"""[extensions.NAME] and [region_vendors.FAMILY]: two tables the header
gives only as numbers or comments (format in headers/OVERLAY.md).

An extension is a VFIO_CHECK_EXTENSION value: its constant must be an
integer of the header (unless since/until say this release lacks it), its
kind `iommu` (a model VFIO_SET_IOMMU accepts) or `property`, its drivers
those of the kernel's back ends that may answer it. A region vendor names a
family of VFIO_REGION_SUBTYPE_<FAMILY>_* constants (at least one must exist,
unless since/until explain it) and the PCI vendor ID whose vendor-specific
regions use them; where the header's comment above the family says the
vendor ("8086 vendor PCI sub-types"), the two must agree.
"""

from __future__ import annotations

import re
from typing import Any

from vfiogen.errors import OverlayError
from vfiogen.ir.model import EXTENSION_DRIVERS, EXTENSION_KINDS, Extension, RegionVendor, Spec
from vfiogen.overlay.checks import Checks

KEYS = {"kind", "drivers", "source", "since", "until"}
VENDOR_KEYS = {"vendor", "source", "since", "until"}
_FAMILY = re.compile(r"[A-Z][A-Z0-9]*")
_SAID = re.compile(r"([0-9a-fA-F]{4}) vendor PCI sub-types")


def extension(m: Checks, name: str, entry: Any) -> None:
    path = ("extensions", name)
    e = m.check_keys(entry, KEYS, path)
    for key in ("kind", "drivers", "source"):
        if key not in e:
            raise m.fail(path, f"extension {name} needs '{key}'")
    kind = m.choice(e, "kind", EXTENSION_KINDS, path)
    drivers = e["drivers"]
    if (
        not isinstance(drivers, list)
        or not drivers
        or any(d not in EXTENSION_DRIVERS for d in drivers)
        or len(set(drivers)) != len(drivers)
    ):
        raise m.fail(
            path + ("drivers",),
            f"extension {name}: drivers must be a list of distinct {', '.join(EXTENSION_DRIVERS)}",
        )
    const = m.spec.constants.get(name)
    if const is None or not isinstance(const.value, int) or not m.applies(e):
        m.versioned_absent(e, path, f"integer constant {name}")
        return
    same = next((x for x in m.spec.extensions.values() if x.value == const.value), None)
    if same is not None and same.name != name:
        raise m.fail(path, f"extension {name} has the value of {same.name} ({const.value})")
    assert kind is not None
    m.spec.extensions[name] = Extension(
        name,
        m.loc(path),
        kind,
        const.value,
        [EXTENSION_DRIVERS[EXTENSION_DRIVERS.index(d)] for d in drivers],
        e["source"],
        e.get("since"),
        e.get("until"),
    )


def region_vendor(m: Checks, family: str, entry: Any) -> None:
    path = ("region_vendors", family)
    e = m.check_keys(entry, VENDOR_KEYS, path)
    if not _FAMILY.fullmatch(family):
        raise m.fail(path, f"region vendor {family!r}: expected an upper-case family name")
    if f"VFIO_REGION_TYPE_{family}" in m.spec.constants:
        raise m.fail(path, f"{family} is a region type's family (VFIO_REGION_TYPE_{family})")
    limit = m.spec.constants.get("VFIO_REGION_TYPE_PCI_VENDOR_MASK")
    mask = limit.value if limit is not None and isinstance(limit.value, int) else 0xFFFF
    vendor = e.get("vendor")
    if type(vendor) is not int or not 0 < vendor <= mask:
        raise m.fail(
            path + ("vendor",),
            f"region vendor {family}: vendor must be a PCI vendor ID (1..{mask:#x})",
        )
    prefix = f"VFIO_REGION_SUBTYPE_{family}_"
    subtypes = sorted(
        (
            c
            for n, c in m.spec.constants.items()
            if n.startswith(prefix) and isinstance(c.value, int)
        ),
        key=lambda c: (c.loc.file, c.loc.line),
    )
    if not subtypes or not m.applies(e):
        m.versioned_absent(e, path, f"a constant {prefix}*")
        return
    taken = next((v for v in m.spec.region_vendors.values() if v.vendor == vendor), None)
    if taken is not None and taken.family != family:
        raise m.fail(path + ("vendor",), f"vendor {vendor:#06x} is {taken.family}'s already")
    said = None
    for loc, text in m.above.get(subtypes[0].name, []):
        found = _SAID.fullmatch(text)
        if found:
            said = loc
            if int(found.group(1), 16) != vendor:
                raise m.fail(
                    path + ("vendor",),
                    f"region vendor {family}: vendor = {vendor:#06x}, but {loc} says "
                    f"{text!r} above {subtypes[0].name}",
                )
    m.spec.region_vendors[family] = RegionVendor(
        family,
        m.loc(path),
        vendor,
        [c.name for c in subtypes],
        said,
        e.get("since"),
        e.get("until"),
    )


def check_gates(spec: Spec) -> None:
    """Once every overlay is merged: a request's `extension` and each
    `flag_gates` target is a declared extension, and a kernel bug's `iommu`
    an IOMMU model (when any overlay declares extensions; a header whose
    overlays declare none is not checked)."""
    if not spec.extensions:
        return
    for bug in spec.kernel_bugs.values():
        model = spec.extensions.get(bug.iommu) if bug.iommu else None
        if bug.iommu and (model is None or model.kind != "iommu"):
            raise OverlayError(
                bug.loc,
                f"kernel bug {bug.name}: iommu {bug.iommu} is not an IOMMU model of [extensions]",
            )
    for req in spec.requests.values():
        for gate in filter(None, [req.extension, *req.flag_gates.values()]):
            if gate not in spec.extensions and req.overlay_loc is not None:
                raise OverlayError(
                    req.overlay_loc,
                    f"request {req.name}: {gate} is not declared in [extensions]",
                )
