"""The .const file beside the syzlang descriptions: each name's value on
every arch syzkaller builds for, from the spec's ABI engine.

syzkaller's `arches =` line lists its Linux arches; each maps to one of our
ABIs (vfiogen.ir.abi.SYZKALLER_ARCHES). An arch whose ABI the spec was not
compiled for takes the numbers of a spec ABI with the same scalar table and
_IOC encoding (riscv64 and s390x have aarch64's); an arch with neither is
marked unsupported (`???`, as syz-extract writes a missing value), with the
reason in the file's header. Values are unsigned 64-bit decimal.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from vfiogen.errors import FuzzError
from vfiogen.ir.abi import ABIS, NO_ABI_REASON, SYZKALLER_ARCHES, same_numbering
from vfiogen.ir.model import Spec

UNDEFINED = "???"


@dataclass(slots=True)
class ConstFile:
    arches: list[str]
    sources: list[tuple[str, str]] = field(
        default_factory=list
    )  # (arch, where its values come from)
    unsupported: list[tuple[str, str]] = field(default_factory=list)  # (arch, why)
    lines: list[str] = field(default_factory=list)  # NAME = default[, arch:arch:value]


def arch_abis(spec: Spec) -> tuple[dict[str, str], list[tuple[str, str]], list[tuple[str, str]]]:
    """syzkaller arch -> the spec ABI whose numbers it uses; how; and the
    arches left unsupported with the reason."""
    chosen: dict[str, str] = {}
    how: list[tuple[str, str]] = []
    unsupported: list[tuple[str, str]] = []
    for arch, abi in SYZKALLER_ARCHES.items():
        if abi is None:
            unsupported.append((arch, NO_ABI_REASON.get(arch, "no ABI")))
            continue
        if abi in spec.abis:
            chosen[arch] = abi
            how.append((arch, abi))
            continue
        same = same_numbering(abi, spec.abis) if abi in ABIS else None
        if same is None:
            unsupported.append(
                (
                    arch,
                    f"the spec was compiled without {abi}, and none of its ABIs "
                    f"({', '.join(spec.abis)}) numbers requests as {abi} does",
                )
            )
            continue
        chosen[arch] = same
        how.append((arch, f"{same} (same scalar sizes, alignments and _IOC encoding as {abi})"))
    return chosen, how, unsupported


def _value(spec: Spec, name: str, abi: str) -> int:
    if name in spec.requests:
        return spec.requests[name].numbers[abi]
    c = spec.constants.get(name)
    if c is None:
        raise FuzzError(None, f"syzlang names {name}, which is neither a request nor a constant")
    v = c.per_abi.get(abi, c.value) if c.per_abi else c.value
    if not isinstance(v, int):
        raise FuzzError(c.loc, f"{name} is not an integer")
    return v % (1 << 64)


def build(spec: Spec, names: list[str]) -> ConstFile:
    """The .const file for `names`: the most common value is the default, the
    others `arch:arch:value` overrides, as syz-sysgen writes them."""
    chosen, how, unsupported = arch_abis(spec)
    out = ConstFile(sorted(SYZKALLER_ARCHES), how, unsupported)
    for name in sorted(names):
        values = {arch: str(_value(spec, name, abi)) for arch, abi in chosen.items()}
        values.update({arch: UNDEFINED for arch, _ in unsupported})
        default = Counter(values[a] for a in out.arches).most_common(1)[0][0]
        groups: dict[str, list[str]] = {}
        for arch in out.arches:
            if values[arch] != default:
                groups.setdefault(values[arch], []).append(arch)
        overrides = [":".join(arches) + ":" + v for v, arches in groups.items()]
        out.lines.append(f"{name} = " + ", ".join([default, *overrides]))
    return out
