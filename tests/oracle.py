"""Compare one ABI's inspect view with gcc's facts: a list of mismatches."""

from __future__ import annotations

import gccprobe
from vfiogen.emit.reports import inspect
from vfiogen.inputs.sources import HeaderSource
from vfiogen.ir.model import Spec


def mismatches(spec: Spec, source: HeaderSource, abi: str) -> tuple[int, list[str]]:
    view = inspect.view(spec, abi)
    facts = gccprobe.run(source, abi, view)
    bad = []
    checked = 0
    for tag, t in view["types"].items():
        for what, ours in (("size", t["size"]), ("align", t["align"])):
            checked += 1
            if facts[f"{what}:{tag}"] != ours:
                bad.append(f"{what} of {tag}: gcc {facts[f'{what}:{tag}']}, spec {ours}")
        for fname, f in t["fields"].items():
            checked += 1
            if facts[f"offset:{tag}.{fname}"] != f["offset"]:
                bad.append(
                    f"offset of {tag}.{fname}: gcc {facts[f'offset:{tag}.{fname}']}, spec {f['offset']}"
                )
            key = f"fsize:{tag}.{fname}"
            if key in facts and facts[key] != f["size"]:
                bad.append(f"size of {tag}.{fname}: gcc {facts[key]}, spec {f['size']}")
    for name, value in view["constants"].items():
        checked += 1
        if (facts[f"value:{name}"] - value) % (1 << 64):
            bad.append(f"{name}: gcc {facts[f'value:{name}']}, spec {value}")
    return checked, bad
