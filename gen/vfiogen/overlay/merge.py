"""The semantic overlay: load, validate strictly against the header, merge.

Format: headers/OVERLAY.md. Every key is checked (unknown keys and values
outside the vocabulary are errors with file:line); every name must exist in
the header unless the entry's `since`/`until` say this release lacks it.
Where the header's kernel-doc contradicts the overlay (a struct that does not
exist, a direction the kernel does not follow) an Erratum is recorded.
"""

from __future__ import annotations

import errno
import re
import tomllib
from pathlib import Path
from typing import Any, Callable, TypeVar

from vfiogen.data import data_dir
from vfiogen.errors import Loc, OverlayError
from vfiogen.frontend.cexpr import canonical_scalar
from vfiogen.ir.query import is_flag_member, named_fields
from vfiogen.overlay.load import KeyLines, display_name
from vfiogen.overlay import (
    coverage,
    extensions,
    fd_kinds,
    field_kinds,
    kernel_bugs,
    links,
    state_machines,
)
from vfiogen.inputs.releases import version_key
from vfiogen.ir.model import (
    ARG_KINDS,
    ARGSZ_STYLES,
    DIRECTIONS,
    FD_KINDS,
    RESULT_KINDS,
    CallPhase,
    Capability,
    CapabilityScope,
    Erratum,
    FdKindInfo,
    Feature,
    Record,
    Request,
    Spec,
    Tail,
    ValueSet,
)

REQUEST_KEYS = {
    "fd",
    "arg",
    "type",
    "result",
    "result_fd",
    "argsz",
    "minsz",
    "count",
    "caps",
    "extension",
    "arg_fd",
    "flag_gates",
    "fields",
    "precondition",
    "note",
    "source",
    "errors",
    "since",
    "until",
}
_Word = TypeVar("_Word", bound=str)
TOP_KEYS = {
    "requests",
    "capabilities",
    "scopes",
    "features",
    "tails",
    "links",
    "fd_kinds",
    "records",
    "kernel_bugs",
    "state_machines",
    "extensions",
    "region_vendors",
    "schema",
    "header",
}
VERSIONED = {"since", "until"}
# Value types of keys that mean one thing wherever they appear (checked with
# the key's line); every section of the top level is a table.
KEY_TYPES: dict[str, type] = {
    **dict.fromkeys(("since", "until", "type", "note", "precondition", "source"), str),
    **dict.fromkeys(("minsz", "count", "caps", "extension"), str),
    **dict.fromkeys(("flag_gates", "fields"), dict),  # errors: errnos() says more
}
_RELEASE = re.compile(r"\d+\.\d+(\.\d+)?")
DOC_DIRECTION = {"_IOR": {"out"}, "_IOW": {"in"}, "_IOWR": {"in", "out", "inout"}}


Above = dict[str, list[tuple[Loc, str]]]  # constant -> the comments right above it


def apply(spec: Spec, files: dict[str, Path], above: Above | None = None) -> None:
    """Merge each overlay file into `spec`; `above` gives, per constant, the
    header's comments right above it (what the header says only in prose)."""
    for _header, path in files.items():
        try:
            text = path.read_text()
            data = tomllib.loads(text)
        except OSError as exc:
            raise OverlayError(Loc(str(path)), f"cannot read overlay: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"line (\d+)", str(exc))
            what = "duplicate key: " if re.match(r"Cannot (overwrite|declare)", str(exc)) else ""
            raise OverlayError(
                Loc(str(path), int(m.group(1)) if m else 1), f"not TOML: {what}{exc}"
            ) from None
        _Merger(spec, data, KeyLines(display_name(path), text), above or {}).run()
    extensions.check_gates(spec)
    coverage.compute(spec)


def _errnos(
    entry: Any, path: tuple[str, ...], fail: Callable[[tuple[str, ...], str], OverlayError]
) -> dict[str, str]:
    """A request's `errors`: errno names Python's errno module knows, each
    with a non-empty reason, so the docs and runtime hints can trust them."""
    if not isinstance(entry, dict):
        raise fail(path, f"expected a table of errno name -> reason for {'.'.join(path)}")
    out: dict[str, str] = {}
    for name, why in entry.items():
        if not (name.startswith("E") and isinstance(getattr(errno, name, None), int)):
            raise fail(path + (name,), f"{name!r} is not an errno name (errno.{name})")
        if not isinstance(why, str) or not why.strip():
            raise fail(path + (name,), f"errors.{name} needs a non-empty reason string")
        out[name] = why.strip()
    return out


class _Merger:
    def __init__(self, spec: Spec, data: dict[str, Any], lines: KeyLines, above: Above) -> None:
        self.spec = spec
        self.data = data
        self.lines = lines
        self.above = above

    # --- helpers ----------------------------------------------------------------

    def fail(self, path: tuple[str, ...], msg: str) -> OverlayError:
        return OverlayError(self.lines.loc(*path), msg)

    def loc(self, path: tuple[str, ...]) -> Loc:
        return self.lines.loc(*path)

    def check_keys(self, entry: Any, allowed: set[str], path: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(entry, dict):
            raise self.fail(path, f"expected a table for {'.'.join(path)}")
        unknown = sorted(set(entry) - allowed)
        if unknown:
            raise self.fail(
                path + (unknown[0],),
                f"unknown key '{unknown[0]}' in "
                f"{'.'.join(path) or 'the top level'}; expected one of {', '.join(sorted(allowed))}",
            )
        for key, value in entry.items():
            want = dict if not path and key not in ("schema", "header") else KEY_TYPES.get(key)
            if want is not None and not isinstance(value, want):
                what = "a table" if want is dict else "a string"
                raise self.fail(path + (key,), f"{key} = {value!r}; expected {what}")
            if key in VERSIONED:
                self.check_release(key, value, path + (key,))
        return entry

    def check_release(self, key: str, value: str, path: tuple[str, ...]) -> None:
        """since/until name a kernel release: MAJOR.MINOR or MAJOR.MINOR.PATCH
        (a later one than the pins is a vendor's future request, allowed)."""
        if not _RELEASE.fullmatch(value):
            raise self.fail(
                path, f'{key} = {value!r} is not a kernel release (expected MAJOR.MINOR, as "6.2")'
            )

    def choice(
        self, entry: dict[str, Any], key: str, allowed: tuple[_Word, ...], path: tuple[str, ...]
    ) -> _Word | None:
        """entry[key], which must be one of `allowed` (a Literal's values)."""
        v = entry.get(key)
        if v is None:
            return None
        if v not in allowed:
            raise self.fail(path + (key,), f"{key} = {v!r}; expected one of {', '.join(allowed)}")
        return allowed[allowed.index(v)]

    def versioned_absent(self, entry: Any, path: tuple[str, ...], what: str) -> None:
        """A name the header lacks: fine if since/until explain it, else an error."""
        if isinstance(entry, dict) and (entry.keys() & VERSIONED) and not self.applies(entry):
            self.spec.coverage.not_applicable.append(".".join(path))
            return
        if (
            isinstance(entry, dict)
            and (entry.keys() & VERSIONED)
            and self.spec.kernel_version is None
        ):
            self.spec.coverage.not_applicable.append(".".join(path))
            return
        raise self.fail(
            path,
            f"{what} does not exist in {self.spec.source}"
            + (
                ""
                if isinstance(entry, dict) and entry.keys() & VERSIONED
                else " (add since/until if it is release-specific)"
            ),
        )

    def applies(self, entry: dict[str, Any]) -> bool:
        kv = self.spec.kernel_version
        if kv is None:
            return True
        k = version_key(kv)
        since, until = entry.get("since"), entry.get("until")
        return (since is None or k >= version_key(str(since))) and (
            until is None or k < version_key(str(until))
        )

    def field_names(self, rec: Record) -> set[str]:
        abi = self.spec.abis[0]
        return {f.name for f in named_fields(rec, self.spec.records)}

    # --- sections -----------------------------------------------------------------

    def run(self) -> None:
        self.check_keys(self.data, TOP_KEYS, ())
        for name, entry in self.data.get("scopes", {}).items():
            self.scope(name, entry)
        for name, entry in self.data.get("requests", {}).items():
            self.request(name, entry)
        for name, entry in self.data.get("capabilities", {}).items():
            self.capability(name, entry)
        for name, entry in self.data.get("features", {}).items():
            self.feature(name, entry)
        for name, entry in self.data.get("tails", {}).items():
            self.tail(name, entry)
        for name, entry in self.data.get("links", {}).items():
            links.link(self, name, entry)
        for name, entry in self.data.get("fd_kinds", {}).items():
            fd_kinds.fd_kind(self, name, entry)
        # facts for the fuzzers and the docs (overlay/field_kinds.py, kernel_bugs.py)
        for tag, entry in self.data.get("records", {}).items():
            field_kinds.merge(self, tag, entry)
        for name, entry in self.data.get("kernel_bugs", {}).items():
            kernel_bugs.merge(self, name, entry)
        for name, entry in self.data.get("state_machines", {}).items():
            state_machines.merge(self, name, entry)  # overlay/state_machines.py
        for name, entry in self.data.get("extensions", {}).items():
            extensions.extension(self, name, entry)  # overlay/extensions.py
        for name, entry in self.data.get("region_vendors", {}).items():
            extensions.region_vendor(self, name, entry)

    def request(self, name: str, entry: Any) -> None:
        path = ("requests", name)
        e = self.check_keys(entry, REQUEST_KEYS, path)
        req = self.spec.requests.get(name)
        if req is None:
            self.versioned_absent(e, path, f"request {name}")
            return
        req.annotated = True
        req.overlay_loc = self.lines.loc(*path)
        req.fd = self.choice(e, "fd", FD_KINDS, path)
        req.arg = self.choice(e, "arg", ARG_KINDS, path)
        req.result = self.choice(e, "result", RESULT_KINDS, path)
        req.result_fd = self.choice(e, "result_fd", FD_KINDS, path)
        req.argsz = self.choice(e, "argsz", ARGSZ_STYLES, path)
        for key in ("fd", "arg", "result"):
            if e.get(key) is None:
                raise self.fail(path, f"request {name} needs '{key}'")
        req.arg_type = e.get("type")
        req.precondition = e.get("precondition", "")
        req.note = e.get("note", "")
        req.source = e.get("source", "")
        req.errors = _errnos(e.get("errors", {}), path + ("errors",), self.fail)
        req.since, req.until = e.get("since"), e.get("until")
        rec = None
        if req.arg == "struct":
            if req.arg_type not in self.spec.records:
                raise self.fail(
                    path + ("type",),
                    f"request {name}: type {req.arg_type!r} is not a struct or union of the header",
                )
            rec = self.spec.records[req.arg_type]
        elif req.arg_type is not None and not self.is_scalar_type(req.arg_type):
            raise self.fail(
                path + ("type",), f"request {name}: {req.arg_type!r} is not a C integer type"
            )
        fields = self.field_names(rec) if rec else set()
        for key in ("minsz", "count"):
            v = e.get(key)
            if v is not None and v not in fields:
                raise self.fail(
                    path + (key,),
                    f"request {name}: {key} names '{v}', not a field of {req.arg_type}",
                )
            setattr(req, key, v)
        if req.argsz in ("enospc", "emsgsize") and not req.count:
            raise self.fail(path, f"request {name}: argsz = {req.argsz!r} needs 'count'")
        caps = e.get("caps")
        if caps is not None and caps not in self.spec.scopes:
            raise self.fail(
                path + ("caps",), f"request {name}: caps scope {caps!r} is not declared in [scopes]"
            )
        req.caps = caps
        ext = e.get("extension")
        if ext is not None and ext not in self.spec.constants:
            raise self.fail(
                path + ("extension",),
                f"request {name}: extension {ext} is not a constant of the header",
            )
        req.extension = ext
        req.arg_fd = self.choice(e, "arg_fd", FD_KINDS, path)
        if req.arg_fd is not None and req.arg != "int_ptr":
            raise self.fail(path + ("arg_fd",), f"request {name}: arg_fd needs arg = 'int_ptr'")
        for flag, gate in (e.get("flag_gates") or {}).items():
            if flag in self.spec.constants and gate in self.spec.constants:
                req.flag_gates[flag] = gate
            else:
                self.spec.coverage.not_applicable.append(f"requests.{name}.flag_gates.{flag}")
        for fname, spec_dir in (e.get("fields") or {}).items():
            fpath = path + ("fields", fname)
            d = spec_dir if isinstance(spec_dir, dict) else {"dir": spec_dir}
            self.check_keys(d, {"dir"} | VERSIONED, fpath)
            if d.get("dir") not in DIRECTIONS:
                raise self.fail(
                    fpath, f"direction {d.get('dir')!r}; expected one of {', '.join(DIRECTIONS)}"
                )
            if fname not in fields:
                self.versioned_absent(d, fpath, f"field {req.arg_type}.{fname}")
                continue
            req.directions[fname] = d["dir"]
        self.errata(req)

    def is_scalar_type(self, name: str) -> bool:
        return (
            canonical_scalar(name.split()) is not None
            or re.fullmatch(r"__[us](8|16|32|64)", name) is not None
        )

    def errata(self, req: Request) -> None:
        """Compare the kernel-doc pseudo-signature with the overlay's truth."""
        doc = req.doc
        if doc is None or not doc.signature:
            return
        m = re.match(r"(_IO[RW]*)\s*\((.*)\)$", doc.signature)
        if not m:
            return
        macro, args = m.group(1), [a.strip() for a in m.group(2).split(",")]
        claimed = args[2] if len(args) > 2 else None
        if claimed and claimed.startswith(("struct ", "union ")):
            tag = claimed.split()[1]
            if tag != req.arg_type:
                exists = "" if tag in self.spec.records else " (no such struct)"
                self.spec.errata.append(
                    Erratum(
                        req.name,
                        doc.loc,
                        "struct-name",
                        f"{doc.signature}{exists}",
                        f"argument is {req.arg or 'none'} {req.arg_type or ''}".strip(),
                    )
                )
        if macro in DOC_DIRECTION and req.directions:
            allowed = DOC_DIRECTION[macro]
            wrong = sorted(
                f
                for f, d in req.directions.items()
                if d not in allowed and d != "inout" or (macro != "_IOWR" and d == "inout")
            )
            if wrong:
                said = {"_IOR": "kernel -> user only", "_IOW": "user -> kernel only"}[macro]
                self.spec.errata.append(
                    Erratum(
                        req.name,
                        doc.loc,
                        "direction",
                        f"{macro}: {said}",
                        "; ".join(f"{f} is {req.directions[f]}" for f in wrong),
                    )
                )

    def scope(self, name: str, entry: Any) -> None:
        path = ("scopes", name)
        e = self.check_keys(entry, {"request", "header", "offset", "flag"} | VERSIONED, path)
        for key in ("request", "header", "offset", "flag"):
            if key not in e:
                raise self.fail(path, f"scope {name} needs '{key}'")
        if e["request"] not in self.spec.requests:
            self.versioned_absent(e, path + ("request",), f"request {e['request']}")
            return
        if e["header"] not in self.spec.records:
            raise self.fail(
                path + ("header",), f"scope {name}: {e['header']} is not a struct of the header"
            )
        self.spec.scopes[name] = CapabilityScope(
            name, self.lines.loc(*path), e["request"], e["header"], e["offset"], e["flag"]
        )

    def capability(self, name: str, entry: Any) -> None:
        path = ("capabilities", name)
        e = self.check_keys(entry, {"scope", "version", "type"} | VERSIONED, path)
        const = self.spec.constants.get(name)
        if const is None or not isinstance(const.value, int):
            self.versioned_absent(e, path, f"capability id {name}")
            return
        if e.get("scope") not in self.spec.scopes:
            if e.get("scope") in (self.data.get("scopes") or {}):
                self.spec.coverage.not_applicable.append(".".join(path))
                return
            raise self.fail(
                path + ("scope",), f"capability {name}: scope {e.get('scope')!r} is not declared"
            )
        t = e.get("type")
        if t is not None and t not in self.spec.records:
            raise self.fail(
                path + ("type",), f"capability {name}: {t} is not a struct of the header"
            )
        if not isinstance(e.get("version"), int):
            raise self.fail(path, f"capability {name} needs an integer 'version'")
        self.spec.capabilities[name] = Capability(
            name, self.lines.loc(*path), const.value, e["scope"], e["version"], t
        )

    def feature(self, name: str, entry: Any) -> None:
        path = ("features", name)
        e = self.check_keys(entry, {"type", "ops", "result_fd", "note"} | VERSIONED, path)
        const = self.spec.constants.get(name)
        if const is None or not isinstance(const.value, int):
            self.versioned_absent(e, path, f"device feature {name}")
            return
        t = e.get("type")
        if t is not None and t not in self.spec.records:
            raise self.fail(path + ("type",), f"feature {name}: {t} is not a struct of the header")
        ops = e.get("ops", [])
        if not isinstance(ops, list) or set(ops) - {"get", "set"}:
            raise self.fail(path + ("ops",), f"feature {name}: ops must be a list of get, set")
        self.spec.features[name] = Feature(
            name,
            self.lines.loc(*path),
            const.value,
            t,
            ops,
            self.choice(e, "result_fd", FD_KINDS, path),
        )

    def tail(self, key: str, entry: Any) -> None:
        path = ("tails", key)
        e = self.check_keys(entry, {"count", "selector", "cases"} | VERSIONED, path)
        rec_name, _, fname = key.partition(".")
        rec = self.spec.records.get(rec_name)
        if rec is None or fname not in self.field_names(rec):
            self.versioned_absent(e, path, f"field {key}")
            return
        fld = next((f for f in rec.fields if f.name == fname), None)
        if fld is None or fld.type.kind != "array" or fld.type.count is None and False:
            raise self.fail(path, f"tail {key} is not a direct array member")
        fields = self.field_names(rec)
        count, selector = e.get("count"), e.get("selector")
        if count is not None and count not in fields:
            raise self.fail(
                path + ("count",), f"tail {key}: count field '{count}' is not in {rec_name}"
            )
        if selector is not None and selector != "feature" and selector not in fields:
            raise self.fail(
                path + ("selector",), f"tail {key}: selector '{selector}' is not in {rec_name}"
            )
        cases = e.get("cases") or {}
        for flag in cases:
            if flag not in self.spec.constants:
                raise self.fail(path + ("cases", flag), f"tail {key}: {flag} is not a constant")
        self.spec.tails[key] = Tail(
            rec_name, fname, self.lines.loc(*path), count, selector, dict(cases)
        )
