"""The spec's JSON Schema, derived from the IR dataclasses.

The committed `spec.schema.json` beside this module is this function's output; a test
keeps the two equal, so the schema cannot drift from the code. Objects are
closed (`additionalProperties: false`), as the decoder in spec.py is.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from vfiogen.errors import Loc
from vfiogen.ir.model import SCHEMA_VERSION, Spec

LOC = {"type": "string", "pattern": "^.+:[0-9]+$", "description": "source position file:line"}


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if tp is Loc:
        return {"$ref": "#/$defs/Loc"}
    if tp is int:
        return {"type": "integer"}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin in (typing.Union, types.UnionType):
        options = [_schema(a, defs) for a in typing.get_args(tp) if a is not type(None)]
        if type(None) in typing.get_args(tp):
            options.append({"type": "null"})
        return options[0] if len(options) == 1 else {"anyOf": options}
    if origin is list:
        return {"type": "array", "items": _schema(typing.get_args(tp)[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(typing.get_args(tp)[1], defs)}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder: recursive types (TypeRef)
            hints = typing.get_type_hints(tp)
            fields = dataclasses.fields(tp)
            required = [
                f.name
                for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            ]
            defs[name] = {
                "type": "object",
                "description": (tp.__doc__ or name).strip().split("\n")[0],
                "properties": {f.name: _schema(hints[f.name], defs) for f in fields},
                "required": required,
                "additionalProperties": False,
            }
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"no JSON Schema for {tp!r}")


def spec_schema() -> dict[str, Any]:
    defs: dict[str, Any] = {"Loc": LOC}
    root = _schema(Spec, defs)
    defs["Spec"]["properties"]["schema_version"] = {"const": SCHEMA_VERSION}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://vfiogen.invalid/spec-v{SCHEMA_VERSION}.schema.json",
        "title": "vfiogen spec",
        **root,
        "$defs": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    return json.dumps(spec_schema(), indent=1) + "\n"
