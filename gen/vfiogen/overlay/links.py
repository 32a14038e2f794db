"""[links]: which constants or enum a field takes, as value sets."""

from __future__ import annotations

from typing import Any

from vfiogen.ir.model import Spec, ValueSet
from vfiogen.ir.query import is_flag_member, named_fields
from vfiogen.overlay.checks import Checks

VERSIONED = {"since", "until"}


def link(m: Checks, key: str, target: Any) -> None:
    """[links] \"record.field\" = \"enum TAG\" or [constants]: the value set a field takes."""
    path = ("links", key)
    versioned = isinstance(target, dict)
    if versioned:
        m.check_keys(target, {"to"} | VERSIONED, path)
        entry, target = target, target.get("to")
    else:
        entry = {}
    rec_name, _, fname = key.partition(".")
    rec = m.spec.records.get(rec_name)
    if rec is None or fname not in m.field_names(rec):
        m.versioned_absent(entry, path, f"field {key}")
        return
    if isinstance(target, str) and target.startswith("enum "):
        tag = target[5:]
        if tag not in m.spec.enums:
            m.versioned_absent(entry, path, f"enum {tag}")
            return
        bind_enum(m.spec, tag, key)
        return
    if not isinstance(target, list):
        raise m.fail(path, f"link {key}: expected 'enum TAG' or a list of constants")
    for name in target:
        const = m.spec.constants.get(name)
        if const is None:
            m.versioned_absent(entry, path, f"constant {name}")
            continue
        if const.enum:
            bind_enum(m.spec, const.enum, key)
            continue
        vs = m.spec.value_sets.get(key)
        if vs is None:
            vs = m.spec.value_sets[key] = ValueSet(key, m.loc(path), "flags", [], [key], "overlay")
            set_field_values(m.spec, rec_name, fname, key)
        if name not in vs.members:
            vs.members.append(name)
        if const.values is None:
            const.values = key
        if not is_flag_member(name, const.value):
            vs.kind = "values"


def bind_enum(spec: Spec, key: str, field_path: str) -> None:
    """Bind an enum's value set to a field (made once per enum)."""
    set_id = f"enum {key}"
    en = spec.enums[key]
    vs = spec.value_sets.get(set_id)
    if vs is None:
        vs = spec.value_sets[set_id] = ValueSet(
            set_id, en.loc, "enum", list(en.enumerators), [], "enum"
        )
        en.values = set_id
    if field_path not in vs.fields:
        vs.fields.append(field_path)
    rec_name, _, fname = field_path.partition(".")
    set_field_values(spec, rec_name, fname, set_id)


def set_field_values(spec: Spec, rec_name: str, fname: str, set_id: str) -> None:
    for f in named_fields(spec.records[rec_name], spec.records):
        if f.name == fname:
            f.values = set_id
