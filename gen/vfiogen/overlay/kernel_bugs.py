"""[kernel_bugs.<name>]: arguments that make a kernel log a problem, which the
kernel fuzzer steers around (format: headers/OVERLAY.md).

Checked: the request, every step of `path` ("record.member", starting at the
request's argument), the flag and the constants of `setup` and `prelude`
exist, as does `iommu` (an IOMMU model's extension), unless since/until say
this header lacks them; `mask` and `equals`
are integers (hex strings for 64-bit values TOML cannot hold).
"""

from __future__ import annotations

from typing import Any

from vfiogen.ir.model import KernelBug
from vfiogen.overlay.checks import Checks

KEYS = {
    "request",
    "path",
    "mask",
    "equals",
    "fix",
    "what",
    "source",
    "flag",
    "exact",
    "setup",
    "prelude",
    "fixed_by",
    "trigger",
    "detector",
    "since",
    "until",
    "nonzero",
    "iommu",
}
TEXTS = ("what", "source", "trigger", "detector")


def merge(m: Checks, name: str, entry: Any) -> None:
    path = ("kernel_bugs", name)
    e = m.check_keys(entry, KEYS, path)
    for key in ("request", "path", "mask", "equals", "fix", "what", "source"):
        if key not in e:
            raise m.fail(path, f"kernel bug {name} needs '{key}'")
    req = m.spec.requests.get(e["request"])
    if req is None or not m.applies(e):
        m.versioned_absent(e, path + ("request",), f"request {e['request']}")
        return
    if req.arg != "struct":
        raise m.fail(path + ("request",), f"request {e['request']} takes no struct argument")
    steps = e["path"]
    if not isinstance(steps, list) or not steps or steps[0].partition(".")[0] != req.arg_type:
        raise m.fail(path + ("path",), f"path must start at {req.arg_type}, the argument")
    for step in steps:
        rec_name, _, member = step.partition(".")
        rec = m.spec.records.get(rec_name)
        if rec is None or member not in m.field_names(rec):
            raise m.fail(path + ("path",), f"{step} is not a member of the header")
    constants = [e[k] for k in ("flag", "iommu") if e.get(k)]
    constants += [v for v in (e.get("setup") or {}).values() if not _is_int(v)]
    constants += list((e.get("prelude") or {}).values())
    for c in constants:
        if c not in m.spec.constants:
            raise m.fail(path, f"kernel bug {name}: {c} is not a constant of the header")
    for r in e.get("prelude") or {}:
        if r not in m.spec.requests:
            raise m.fail(path + ("prelude",), f"kernel bug {name}: {r} is not a request")
    if not (e["fix"] == "PAGE" or _is_int(e["fix"])):
        raise m.fail(path + ("fix",), "fix must be PAGE or an integer (a string)")
    nonzero = e.get("nonzero", False)
    if not isinstance(nonzero, bool) or nonzero and _int(m, e["equals"], path + ("equals",)):
        raise m.fail(path + ("nonzero",), "nonzero is true or false, and when true equals is 0")
    m.spec.kernel_bugs[name] = KernelBug(
        name,
        m.loc(path),
        e["request"],
        list(steps),
        _int(m, e["mask"], path + ("mask",)),
        _int(m, e["equals"], path + ("equals",)),
        e["fix"],
        e["what"],
        e["source"],
        e.get("flag"),
        bool(e.get("exact", False)),
        dict(e.get("setup") or {}),
        dict(e.get("prelude") or {}),
        e.get("fixed_by"),
        e.get("trigger", ""),
        e.get("detector", ""),
        e.get("since"),
        e.get("until"),
        nonzero,
        e.get("iommu"),
    )


def _is_int(v: Any) -> bool:
    try:
        int(str(v), 0)
    except ValueError:
        return False
    return True


def _int(m: Checks, v: Any, path: tuple[str, ...]) -> int:
    if isinstance(v, int) or (isinstance(v, str) and _is_int(v)):
        return int(str(v), 0)
    raise m.fail(path, f'{path[-1]} = {v!r}; expected an integer ("0x..." for 64-bit values)')
