"""The spec's JSON form: one generic walk in each direction, driven by the
dataclass type hints, so adding a field to the IR needs no codec change."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from vfiogen.errors import Loc, SpecFormatError
from vfiogen.ir.model import SCHEMA_VERSION, Spec

_FIELDS: dict[type, list[tuple[str, Any]]] = {}
_MISSING = object()


def _defaults(cls: type) -> list[tuple[str, Any]]:
    """(name, default value or _MISSING) of a dataclass, computed once."""
    if cls not in _FIELDS:
        out = []
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out.append((f.name, f.default))
            elif f.default_factory is not dataclasses.MISSING:
                out.append((f.name, f.default_factory()))
            else:
                out.append((f.name, _MISSING))
        _FIELDS[cls] = out
    return _FIELDS[cls]


_SCALARS = frozenset({str, int, float, bool, type(None)})
_COMPACT = json.JSONEncoder(separators=(",", ":"))  # one encoder: json.dumps makes one per call
_PLAIN = json.JSONEncoder()


def _encode(value: Any) -> Any:
    cls = type(value)
    if cls in _SCALARS:
        return value
    fields = _FIELDS.get(cls)
    if fields is None:
        if cls is Loc:
            return value.to_json()
        if isinstance(value, dict):
            return {k: _encode(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [_encode(v) for v in value]
        if not dataclasses.is_dataclass(value):
            return value
        fields = _defaults(cls)
    out = {}
    for name, default in fields:
        v = getattr(value, name)
        if default is not _MISSING and v == default:
            continue  # defaults are implied; keeps the JSON short
        out[name] = v if type(v) in _SCALARS else _encode(v)
    return out


def to_json(spec: Spec) -> str:
    """The spec's JSON text, one entity per line (readable diffs, and the
    fast C encoder does the work); identical input gives identical bytes."""
    data = _encode(spec)
    key, compact = _PLAIN.encode, _COMPACT.encode
    lines = ["{"]
    items = list(data.items())
    for i, (name, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, dict) and value:
            lines.append(f" {key(name)}: {{")
            entries = [f"  {key(k)}: {compact(v)}" for k, v in value.items()]
            lines.append(",\n".join(entries))
            lines.append(f" }}{comma}")
        else:
            lines.append(f" {key(name)}: {compact(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _decode(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Loc:
        return Loc.from_json(value)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if len(args) == 1:
            return _decode(args[0], value, where)
        return value  # int | str and similar scalars
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_decode(item, v, where) for v in value]
    if origin is dict:
        _, item = typing.get_args(tp)
        return {k: _decode(item, v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise SpecFormatError(where, f"expected an object for {tp.__name__}")
        hints = _hints(tp)
        unknown = set(value) - set(hints)
        if unknown:
            raise SpecFormatError(where, f"unknown keys {sorted(unknown)}")
        kwargs = {k: _decode(hints[k], v, f"{where}.{k}") for k, v in value.items()}
        try:
            return tp(**kwargs)
        except TypeError as exc:
            raise SpecFormatError(where, str(exc)) from None
    return value


def from_json(text: str, path: str = "<spec>") -> Spec:
    """Load a spec written by `to_json`; refuses other schema versions."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecFormatError(Loc(path, exc.lineno), f"not JSON: {exc.msg}") from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise SpecFormatError(Loc(path, 1), "not a vfiogen spec (no schema_version)")
    if data["schema_version"] != SCHEMA_VERSION:
        raise SpecFormatError(
            Loc(path, 1),
            f"spec schema version {data['schema_version']}, "
            f"expected {SCHEMA_VERSION}: regenerate it with this vfiogen",
        )
    spec = _decode(Spec, data, path)
    assert isinstance(spec, Spec)
    return spec
