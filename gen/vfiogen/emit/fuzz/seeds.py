"""Seeds of the decoder fuzz targets, as bytes.

Crafted from the spec's layouts (of one ABI, x86_64 when the spec has it):
for each capability scope the INFO struct alone, a chain with every known
capability (counted tails with two elements) and an unknown id, and a chain
that loops; for each counted tail two elements, and a count that lies.
Recorded: real kernel answers the hardware tier saved
(headers/kernel-answers.toml, written by tests/hardware/guest/test_fuzz_kernel.py),
each a seed of the struct's decode target, of its scope's walk and of its
request's negotiation.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from vfiogen.data import data_dir
from vfiogen.ir.abi import ABIS
from vfiogen.errors import FuzzError, Loc
from vfiogen.ir.model import Record, Spec

if TYPE_CHECKING:
    from vfiogen.emit.fuzz.build import FuzzModel

ANSWERS_FILE = "kernel-answers.toml"
ANSWER_KEYS = {"request", "args", "kernel", "abi", "device", "hex"}
UNKNOWN_ID = 0x7FFF  # a capability id no scope defines
HEX_LINE = 32  # bytes per line in the seed files


@dataclass(slots=True)
class Seed:
    target: str  # "walk.region_info"
    what: str
    data: bytes

    @property
    def lines(self) -> list[str]:
        """The bytes as hex, 32 to a line, in groups of 4."""
        out = []
        for i in range(0, len(self.data), HEX_LINE):
            chunk = self.data[i : i + HEX_LINE].hex()
            out.append(" ".join(chunk[j : j + 8] for j in range(0, len(chunk), 8)))
        return out or [""]


class _Layout:
    """Writes integer fields of records into a buffer, at one ABI's offsets."""

    def __init__(self, spec: Spec, abi: str) -> None:
        self.spec = spec
        self.abi = abi
        self.order: Literal["big", "little"] = "big" if ABIS[abi].big_endian else "little"

    def size(self, rec: str) -> int:
        return self.spec.records[rec].layout[self.abi].size

    def put(self, buf: bytearray, base: int, rec: str, name: str, value: int) -> None:
        """Field `name` of record `rec` at `base` (members of anonymous members too)."""
        if not self._put(buf, base, self.spec.records[rec], name, value):
            raise FuzzError(self.spec.records[rec].loc, f"{rec} has no field {name}")

    def _put(self, buf: bytearray, base: int, rec: Record, name: str, value: int) -> bool:
        for f in rec.fields:
            lay = f.layout[self.abi]
            if f.name == name:
                mask = (1 << (8 * lay.size)) - 1
                buf[base + lay.offset : base + lay.offset + lay.size] = (value & mask).to_bytes(
                    lay.size, self.order
                )
                return True
            if not f.name and f.type.kind == "record":
                if self._put(buf, base + lay.offset, self.spec.records[f.type.name], name, value):
                    return True
        return False

    def fill(self, buf: bytearray, base: int, rec: Record, value: int) -> None:
        """Every scalar member of `rec` set to `value` (a recognisable element)."""
        for f in rec.fields:
            lay = f.layout[self.abi]
            if f.type.kind == "record":
                self.fill(buf, base + lay.offset, self.spec.records[f.type.name], value)
            elif f.type.kind in ("int", "enum") and f.name:
                self._put(buf, base, rec, f.name, value)
            if rec.kind == "union":
                return  # its members overlap: the first is enough


class _Crafter:
    def __init__(self, spec: Spec, model: FuzzModel) -> None:
        self.spec = spec
        self.lay = _Layout(spec, model.abi)
        self.tails = {t.record: t for t in spec.tails.values() if t.count and not t.selector}

    def with_tail(self, rec: str, count: int, elements: int) -> bytearray:
        """The record, then `elements` elements of its counted tail, `count` saying how many."""
        buf = bytearray(self.lay.size(rec))
        tail = self.tails.get(rec)
        if tail is None:
            return buf
        fld = next(f for f in self.spec.records[rec].fields if f.name == tail.field)
        elem = fld.type.of
        assert elem is not None
        start = fld.layout[self.lay.abi].offset
        buf[start:] = b""
        for i in range(elements):
            if elem.kind == "record":
                e = bytearray(self.lay.size(elem.name))
                self.lay.fill(e, 0, self.spec.records[elem.name], (i + 1) * 0x1000)
            else:
                e = bytearray(((i + 1) * 0x1000).to_bytes(4, self.lay.order))
            buf += e
        if tail.count is not None:
            self.lay.put(buf, 0, rec, tail.count, count)
        return buf

    def cap(self, scope: str, ident: int, version: int, body: str | None) -> bytearray:
        header = self.spec.scopes[scope].header
        out = self.with_tail(body, 2, 2) if body else bytearray(self.lay.size(header) + 8)
        if not body:
            out[self.lay.size(header) :] = b"\xa5" * 8  # an opaque payload
        self.lay.put(out, 0, header, "id", ident)
        self.lay.put(out, 0, header, "version", version)
        return out

    def chain(self, scope: str, caps: list[bytearray], loop: bool = False) -> bytes:
        """The scope's INFO struct followed by `caps`, each 8-aligned and linked
        in order (the last back to the first when `loop`)."""
        sc = self.spec.scopes[scope]
        info = self.spec.requests[sc.request].arg_type or ""
        header = sc.header
        buf = bytearray(self.lay.size(info))
        offsets = []
        for c in caps:
            buf += bytes(-len(buf) % 8)
            offsets.append(len(buf))
            buf += c
        buf += bytes(-len(buf) % 8)
        for i, off in enumerate(offsets):
            nxt = offsets[i + 1] if i + 1 < len(offsets) else (offsets[0] if loop else 0)
            self.lay.put(buf, off, header, "next", nxt)
        first = self.spec.records[info].fields[0].name
        if first in ("argsz", "size"):
            self.lay.put(buf, 0, info, first, len(buf))
        if offsets:
            flag = self.spec.constants[sc.flag].value
            self.lay.put(buf, 0, info, "flags", flag if isinstance(flag, int) else 0)
            self.lay.put(buf, 0, info, sc.offset, offsets[0])
        return bytes(buf)

    def known(self, scope: str) -> list[bytearray]:
        caps = sorted(
            (c for c in self.spec.capabilities.values() if c.scope == scope), key=lambda c: c.id
        )
        out = [self.cap(scope, c.id, c.version, c.type) for c in caps]
        return out + [self.cap(scope, UNKNOWN_ID, 1, None)]


def build(spec: Spec, model: FuzzModel) -> dict[str, list[Seed]]:
    """Seeds by target kind: "walk", "tail", "negotiate", "decode"."""
    c = _Crafter(spec, model)
    out: dict[str, list[Seed]] = {"walk": [], "tail": [], "negotiate": [], "decode": []}
    grow = {scope: request for request, _, scope in model.negotiations if scope}
    for scope in model.scopes:
        empty = c.chain(scope, [])
        full = c.chain(scope, c.known(scope))
        loop = c.chain(scope, c.known(scope)[:2], loop=True)
        out["walk"] += [
            Seed(f"walk.{scope}", "the INFO struct alone, no chain", empty),
            Seed(f"walk.{scope}", "every known capability, then an unknown id", full),
            Seed(f"walk.{scope}", "two capabilities whose chain loops", loop),
        ]
        if scope in grow:
            target = f"negotiate.{grow[scope]}"
            out["negotiate"] += [
                Seed(target, "growth 0; a kernel that needs no more room", b"\0" + empty),
                Seed(target, "growth 0; a kernel with a full chain", b"\0" + full),
            ]
    names = {r.cname: r.cls for r in model.records}
    for rec in spec.tails.values():
        if rec.count and not rec.selector and names[rec.record] in model.tails:
            target = f"tail.{names[rec.record]}"
            out["tail"] += [
                Seed(target, "two elements", bytes(c.with_tail(rec.record, 2, 2))),
                Seed(target, "a count that lies: 3 for two", bytes(c.with_tail(rec.record, 3, 2))),
            ]
    for answer in recorded(spec):
        request, args, data, what = answer
        req = spec.requests[request]
        cls = names[req.arg_type or ""]
        out["decode"].append(Seed(f"decode.{cls}", what, data))
        if req.caps:
            out["walk"].append(Seed(f"walk.{req.caps}", what, data))
        if req.argsz == "grow":
            out["negotiate"].append(Seed(f"negotiate.{request}", f"growth 0; {what}", b"\0" + data))
    return out


def recorded(spec: Spec) -> list[tuple[str, dict[str, int], bytes, str]]:
    """The recorded answers to this spec's requests: (request, args, bytes, what)."""
    path = data_dir("headers") / ANSWERS_FILE
    if not path.is_file():
        return []
    where = Loc(f"headers/{ANSWERS_FILE}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise FuzzError(where, f"not TOML: {exc}") from None
    out = []
    for i, entry in enumerate(data.get("answer", [])):
        keys = set(entry)
        if keys != ANSWER_KEYS:
            raise FuzzError(
                where, f"answer {i + 1}: keys {sorted(keys)}, expected {sorted(ANSWER_KEYS)}"
            )
        req = spec.requests.get(entry["request"])
        if req is None or req.arg != "struct" or req.arg_type not in spec.records:
            continue  # a request this release does not have
        try:
            raw = bytes.fromhex(entry["hex"])
        except ValueError:
            raise FuzzError(where, f"answer {i + 1}: hex is not hexadecimal") from None
        args = ", ".join(f"{k}={v}" for k, v in sorted(entry["args"].items()))
        what = (
            f"{entry['request']}({args}) answered by Linux {entry['kernel']} "
            f"({entry['device']}, {entry['abi']})"
        )
        out.append((entry["request"], dict(entry["args"]), raw, what))
    return out
