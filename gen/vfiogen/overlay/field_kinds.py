"""[records.<tag>.fields]: what an integer member holds beyond its C type.

    [records.vfio_iommu_type1_dma_map.fields]
    vaddr = { kind = "user_address", mapping = true }
    [records.vfio_pci_hot_reset.fields]
    group_fds = { kind = "fd", fd = "group" }          # a tail of fds
    [records.vfio_irq_set.fields]
    data = { kind = "fd", fd = "eventfd", when = "VFIO_IRQ_SET_DATA_EVENTFD" }
    [records.iommu_hwpt_alloc.fields]
    data_len = { kind = "length", of = "data_uptr", since = "6.7" }
    [records.iommu_hw_info.fields.data_uptr]
    kind = "user_address"
    selector = "out_data_type"
    cases = { IOMMU_HW_INFO_TYPE_INTEL_VTD = "iommu_hw_info_vtd" }

Checked: the member exists (or since/until say why not), its C type fits the
kind (an address is 64-bit, an fd 32-bit), `of` names a sibling, `when` a
case of the member's selected tail, `selector` a sibling whose value picks
the struct at the address from `cases` (constant -> struct tag; a case the
release lacks is dropped when its since/until say so). The result is
Field.kind.
"""

from __future__ import annotations

from typing import Any

from vfiogen.ir.model import FIELD_FDS, FIELD_KIND_NAMES, Field, FieldKind, Record, TypeRef
from vfiogen.ir.query import named_fields
from vfiogen.overlay.checks import Checks

KEYS = {"kind", "fd", "of", "mapping", "when", "selector", "cases", "since", "until"}
# key -> the kind it belongs to
ONLY_FOR = {
    "fd": "fd",
    "of": "length",
    "mapping": "user_address",
    "selector": "user_address",
    "cases": "user_address",
}
CASE_KEYS = {"to", "since", "until"}
WIDTH = {
    "int": 4,
    "unsigned int": 4,
    "long long": 8,
    "unsigned long long": 8,
    "short": 2,
    "unsigned short": 2,
    "char": 1,
    "signed char": 1,
    "unsigned char": 1,
}

# the element types a selected tail's cases name
TYPEDEFS = {
    "__u8": "unsigned char",
    "__s32": "int",
    "__u32": "unsigned int",
    "__u64": "unsigned long long",
}


def merge(m: Checks, tag: str, entry: Any) -> None:
    path = ("records", tag)
    e = m.check_keys(entry, {"fields"}, path)
    rec = m.spec.records.get(tag)
    for fname, spec in (e.get("fields") or {}).items():
        fpath = path + ("fields", fname)
        d = m.check_keys(spec, KEYS, fpath)
        if rec is None or fname not in m.field_names(rec):
            m.versioned_absent(d, fpath, f"field {tag}.{fname}")
            continue
        field = next(f for f in named_fields(rec, m.spec.records) if f.name == fname)
        field.kind = _kind(m, rec, field, d, fpath)


def _kind(m: Checks, rec: Record, f: Field, d: dict[str, Any], path: tuple[str, ...]) -> FieldKind:
    kind = next((k for k in FIELD_KIND_NAMES if k == d.get("kind")), None)
    if kind is None:
        raise m.fail(
            path, f"kind = {d.get('kind')!r}; expected one of {', '.join(FIELD_KIND_NAMES)}"
        )
    for key, owner in ONLY_FOR.items():
        if key in d and kind != owner:
            raise m.fail(path, f"'{key}' applies to kind = {owner!r} only")
    if d.get("fd") is not None and d["fd"] not in FIELD_FDS:
        raise m.fail(path, f"fd = {d['fd']!r}; expected one of {', '.join(FIELD_FDS)}")
    when = d.get("when")
    element = f.type
    if when is not None:
        tail = m.spec.tails.get(f"{rec.name}.{f.name}")
        if tail is None or when not in tail.cases:
            raise m.fail(path, f"when = {when!r} is not a case of the tail {rec.name}.{f.name}")
        element = TypeRef("int", tail.cases[when], TYPEDEFS.get(tail.cases[when], ""))
    width = {"user_address": 8, "fd": 4}.get(kind)
    sizes = {lay.size for lay in f.layout.values()} if element is f.type else set()
    if f.type.kind == "int" and sizes:  # `__u64` is `unsigned long` on some ABIs
        fits = sizes == {width}
    else:
        fits = _width(element) == width or f.type.kind == "pointer"
    if width and not fits:
        raise m.fail(path, f"{rec.name}.{f.name} is not a {8 * width}-bit integer, as {kind} needs")
    if kind == "length" and (not d.get("of") or d["of"] not in m.field_names(rec)):
        raise m.fail(path, f"length: 'of' must name another member of {rec.name}")
    if not isinstance(d.get("mapping", False), bool):
        raise m.fail(path, "mapping must be true or false")
    return FieldKind(
        kind,
        m.loc(path),
        d.get("fd"),
        d.get("of"),
        d.get("mapping", False),
        when,
        d.get("since"),
        d.get("until"),
        *_pointee(m, rec, d, path),
    )


def _pointee(
    m: Checks, rec: Record, d: dict[str, Any], path: tuple[str, ...]
) -> tuple[str | None, dict[str, str]]:
    """(selector, {constant: struct tag}) of a user address whose struct a
    sibling member's value chooses; cases the release lacks are left out."""
    selector, cases = d.get("selector"), d.get("cases")
    if selector is None and cases is None:
        return None, {}
    if not isinstance(selector, str) or selector not in m.field_names(rec):
        raise m.fail(
            path + ("selector",), f"selector = {selector!r}: expected another member of {rec.name}"
        )
    if not isinstance(cases, dict) or not cases:
        raise m.fail(path + ("cases",), "cases: expected a table of constant = struct tag")
    out: dict[str, str] = {}
    for name, target in cases.items():
        cpath = path + ("cases", name)
        entry = m.check_keys(target, CASE_KEYS, cpath) if isinstance(target, dict) else {}
        tag = entry.get("to") if isinstance(target, dict) else target
        if not isinstance(tag, str):
            raise m.fail(
                cpath, f"case {name}: expected a struct tag or {{ to = TAG, since = ... }}"
            )
        if name not in m.spec.constants:
            m.versioned_absent(entry, cpath, f"constant {name}")
            continue
        if tag not in m.spec.records:
            m.versioned_absent(entry, cpath, f"struct {tag}")
            continue
        if m.applies(entry):
            out[name] = tag
    return selector, out


def _width(t: TypeRef) -> int:
    """Bytes of an integer member, or of an array's element (0: neither)."""
    if t.kind == "array" and t.of is not None:
        return _width(t.of)
    if t.kind == "enum":
        return 4
    return WIDTH.get(t.base, 0) if t.kind == "int" else 0
