"""`vfiogen inspect`: one ABI's flat view of a spec (the CLI contract shape).

{"abi", "types": {tag: {kind, size, align, fields: {name: {offset, size}}}},
 "constants": {name: int}, "requests": {name: {number, fd, arg, type, result}}}
Members of anonymous structs/unions appear directly under their parent.
"""

from __future__ import annotations

from typing import Any

from vfiogen.errors import VfiogenError
from vfiogen.ir.query import members
from vfiogen.semantics.layout import bitfields
from vfiogen.ir.model import Spec


def view(spec: Spec, abi: str) -> dict[str, Any]:
    if abi not in spec.abis:
        raise VfiogenError(None, f"ABI {abi!r} is not in this spec; it has {', '.join(spec.abis)}")
    types = {}
    for name, rec in spec.records.items():
        if rec.anonymous:
            continue
        lay = rec.layout[abi]
        fields: dict[str, dict[str, int]] = {
            n: {"offset": m.layout[abi][0], "size": m.layout[abi][1]}
            for n, m in members(rec, spec.records, [abi]).items()
        }
        for n, (bit, width) in bitfields(rec, spec.records, abi).items():
            fields[n].update(bit_offset=bit, bits=width)  # offsetof/sizeof do not apply
        types[name] = {"kind": rec.kind, "size": lay.size, "align": lay.align, "fields": fields}
    constants: dict[str, int] = {}
    for name, c in spec.constants.items():
        if isinstance(c.value, int):
            constants[name] = c.per_abi[abi] if c.per_abi else c.value
    requests = {}
    for name, r in spec.requests.items():
        constants[name] = r.numbers[abi]
        requests[name] = {
            "number": r.numbers[abi],
            "fd": r.fd,
            "arg": r.arg,
            "type": r.arg_type,
            "result": r.result,
        }
    return {"abi": abi, "types": types, "constants": constants, "requests": requests}


def tables(v: dict[str, Any]) -> str:
    """The same view as readable text tables."""
    out = [f"ABI {v['abi']}", "", "REQUESTS"]
    out.append(f"  {'name':44} {'number':>10}  {'fd':9} {'arg':7} {'result':6}  type")
    for name, r in v["requests"].items():
        out.append(
            f"  {name:44} {r['number']:#10x}  {r['fd'] or '?':9} {r['arg'] or '?':7} "
            f"{r['result'] or '?':6}  {r['type'] or ''}"
        )
    out += ["", "TYPES"]
    for name, t in v["types"].items():
        out.append(f"  {t['kind']} {name}  size {t['size']}  align {t['align']}")
        for fname, f in t["fields"].items():
            out.append(f"      {f['offset']:5}  {f['size']:4}  {fname}")
    out += ["", "CONSTANTS"]
    for name, value in v["constants"].items():
        if name not in v["requests"]:
            out.append(f"  {name:56} {value}")
    return "\n".join(out) + "\n"
