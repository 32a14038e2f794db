"""The UAPI sweep: every Linux 7.2 `linux/*.h` that gcc can check alone,
compiled by vfiogen and compared with gcc on every fact.

A header counts when `gcc -nostdinc -I<generic tree>` accepts it alone for
the ABI (the others need libc headers or another header first). It is
*identical* when vfiogen compiles it and every size, alignment, field
offset and size, constant and request number of its inspect view equals
gcc's, and vfiogen misses no record the header defines and no object-like
macro of the header that gcc evaluates to an integer.

gcc's answers are the asm-offsets probe of `gccprobe`, one gcc run per
header and ABI, cached by header sha256 + gcc version + ABI in
`build/gcc-answers/` (a fact not in the cache is asked for and added), so
a rerun only recompiles with vfiogen.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from vfiogen import pipeline
from vfiogen.emit.reports import inspect
from vfiogen.errors import VfiogenError
from vfiogen.inputs import releases, sources
from vfiogen.ir.abi import ABIS

CACHE = Path(__file__).resolve().parent.parent / "build" / "gcc-answers"
SWEEP_ABIS = ("x86_64", "i386")


def generic_tree() -> Path:
    """7.2's full UAPI tree: the ziglang wheel pinned as release 7.2 carries
    every linux/*.h under its generic include dir."""
    rel = releases.get_release("7.2")
    return releases.fetch(rel, quiet=True) / rel.generic


@functools.lru_cache(maxsize=None)
def gcc_version() -> str:
    return subprocess.run(
        ["gcc", "-dumpfullversion"], capture_output=True, text=True
    ).stdout.strip()


def _gcc(abi: str, tree: Path, text: str, stage: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        "gcc",
        *ABIS[abi].gcc_flags,
        "-nostdinc",
        "-ftrack-macro-expansion=0",
        f"-I{tree}",
        stage,
        "-o",
        "-",
        "-x",
        "c",
        "-",
    ]
    return subprocess.run(cmd, input=text, capture_output=True, text=True)


def checkable(tree: Path, abi: str) -> list[str]:
    """linux/*.h that gcc compiles on their own for this ABI (cached)."""
    names = sorted(f"linux/{p.name}" for p in (tree / "linux").glob("*.h"))
    digest = hashlib.sha256("".join(names).encode()).hexdigest()[:16]
    path = CACHE / f"checkable-{abi}-{gcc_version()}-{digest}.json"
    if path.is_file():
        return list(json.loads(path.read_text()))
    ok = [n for n in names if not _gcc(abi, tree, f"#include <{n}>\n", "-fsyntax-only").returncode]
    _store(path, ok)
    return ok


def _store(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    tmp.replace(path)


_PROBE_HEAD = (
    '#define C(v, k) "i"((int)(((unsigned long long)(v) >> (16 * k)) & 0xffff))\n'
    '#define P(name, val) __asm__ volatile("\\n.ascii \\"->" name " %c0 %c1 %c2 %c3\\"" '
    ":: C(val, 0), C(val, 1), C(val, 2), C(val, 3))\n"
)
_FACT = re.compile(r'\.ascii\s+"->(\S+) (\d+) (\d+) (\d+) (\d+)"')
_ERROR_LINE = re.compile(r"^<stdin>:(\d+):\d+: error", re.M)


def probe_expr(fact: str) -> str:
    """The C expression gcc evaluates for a fact name."""
    what, _, subject = fact.partition(":")
    if what == "value":
        return subject
    tag, _, member = subject.partition(".")
    kind, _, tag = tag.partition(" ")
    ref = f"{kind} {tag}"
    return {
        "size": f"sizeof({ref})",
        "align": f"_Alignof({ref})",
        "offset": f"__builtin_offsetof({ref}, {member})",
        "fsize": f"sizeof((({ref} *)0)->{member})",
    }[what]


_DATA = re.compile(r"^\s*\.(byte|value|short|long|quad|zero|string|ascii)\s+(.*)$")
_WIDTH = {"byte": 1, "value": 2, "short": 2, "long": 4, "quad": 8}


def _object_bytes(asm: str, label: str) -> bytes:
    """The bytes gcc emits for a static object (little-endian targets)."""
    out = bytearray()
    lines = asm.split("\n")
    start = lines.index(f"{label}:") + 1
    for line in lines[start:]:
        m = _DATA.match(line)
        if m is None:
            if out or line.strip().startswith(".") is False:
                break
            continue
        kind, arg = m.groups()
        if kind == "zero":
            out += bytes(int(arg))
        elif kind in _WIDTH:
            out += (int(arg, 0) % (1 << 8 * _WIDTH[kind])).to_bytes(_WIDTH[kind], "little")
        else:
            out += arg.strip('"').encode().decode("unicode_escape").encode("latin-1")
            out += b"\0" if kind == "string" else b""
    return bytes(out)


def ask_bitfields(tree: Path, header: str, abi: str, facts: list[str]) -> dict[str, int | None]:
    """`bitfield:struct T.f` -> first bit * 256 + width, read from the bytes of
    a static `struct T` whose only nonzero member is f = -1 (offsetof and
    sizeof do not apply to bit-fields)."""
    text = f"#include <{header}>\n"
    for i, f in enumerate(facts):
        ref, _, member = f.partition(":")[2].partition(".")
        text += (
            f"const union {{ {ref} s; unsigned char b[sizeof({ref})]; }} "
            f"vfiogen_bf{i} = {{ .s.{member} = -1 }};\n"
        )
    proc = _gcc(abi, tree, text, "-S")
    if proc.returncode:
        return {f: None for f in facts}
    answers: dict[str, int | None] = {}
    for i, f in enumerate(facts):
        data = int.from_bytes(_object_bytes(proc.stdout, f"vfiogen_bf{i}"), "little")
        first = (data & -data).bit_length() - 1
        answers[f] = first * 256 + bin(data).count("1") if data else None
    return answers


def ask_gcc(tree: Path, header: str, abi: str, facts: list[str]) -> dict[str, int | None]:
    """gcc's value of each fact (None: gcc does not accept the expression).
    Lines gcc rejects are dropped and the rest asked again."""
    bitfield = [f for f in facts if f.startswith("bitfield:")]
    pending = [f for f in facts if not f.startswith("bitfield:")]
    answers: dict[str, int | None] = ask_bitfields(tree, header, abi, bitfield) if bitfield else {}
    for _ in range(50):
        if not pending:
            break
        body = [f'P("{i}", {probe_expr(f)});' for i, f in enumerate(pending)]
        # _IO* requests of a header that leaves including linux/ioctl.h to its user
        head = f"#include <linux/ioctl.h>\n#include <{header}>\n{_PROBE_HEAD}void vfiogen_probe(void) {{\n"
        first = head.count("\n") + 1
        proc = _gcc(abi, tree, head + "\n".join(body) + "\n}\n", "-S")
        if proc.returncode == 0:
            for m in _FACT.finditer(proc.stdout):
                value = sum(int(m.group(i + 2)) << (16 * i) for i in range(4))
                answers[pending[int(m.group(1))]] = value - (1 << 64) if value >= 1 << 63 else value
            for f in pending:
                answers.setdefault(f, None)
            break
        bad = {int(n) - first for n in _ERROR_LINE.findall(proc.stderr)}
        bad = {n for n in bad if 0 <= n < len(pending)}
        if not bad:  # an error outside the probe lines: nothing can be asked
            return {**answers, **{f: None for f in pending}}
        for n in sorted(bad, reverse=True):
            answers[pending.pop(n)] = None
    return answers


def gcc_facts(tree: Path, header: str, abi: str, facts: list[str]) -> dict[str, int | None]:
    """ask_gcc through the cache (per header sha256, gcc version, ABI)."""
    sha = hashlib.sha256((tree / header).read_bytes()).hexdigest()[:16]
    path = CACHE / f"{header.replace('/', '_')}-{abi}-{gcc_version()}-{sha}.json"
    cached: dict[str, int | None] = json.loads(path.read_text()) if path.is_file() else {}
    missing = [f for f in facts if f not in cached]
    if missing:
        cached.update(ask_gcc(tree, header, abi, missing))
        _store(path, cached)
    return cached


_TAG = re.compile(r"\b(struct|union)\s+([A-Za-z_]\w*)\s*\{")
_OBJECT_MACRO = re.compile(r"^\s*#\s*define\s+([A-Za-z_]\w*)(?:[ \t]+(\S.*))?$", re.M)


def header_names(tree: Path, header: str) -> tuple[set[str], set[str]]:
    """(record facts 'struct tag', object-like macros) the header itself
    defines, read from its text: what vfiogen must not miss."""
    text = (tree / header).read_text(errors="replace")
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"\\\n", " ", text)
    tags = {f"{k} {t}" for k, t in _TAG.findall(text)}
    macros = {n for n, body in _OBJECT_MACRO.findall(text) if body and not n.startswith("_")}
    return tags, macros


@dataclass
class Verdict:
    header: str
    abi: str
    checked: int = 0
    refused: str | None = None
    bad: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.refused is None and not self.bad


def compile_views(tree: Path, header: str, abis: tuple[str, ...]) -> dict[str, dict] | str:
    """vfiogen's inspect view per ABI, as `vfiogen inspect --header H -I..
    --abi A --json` prints it, or the one-line error it reports."""
    src = sources.from_header(tree / header, [tree])
    try:
        spec = pipeline.compile_spec(src, abis, overlay_files={}, warn=False)
    except VfiogenError as exc:
        return str(exc)
    return {abi: inspect.view(spec, abi) for abi in abis}


def compare(tree: Path, header: str, abi: str, view: dict, cache: bool = True) -> Verdict:
    v = Verdict(header, abi)
    tags, macros = header_names(tree, header)
    kinds = {f"{t['kind']} {tag}" for tag, t in view["types"].items()}
    facts = [f"size:{k}" for k in tags | kinds] + [
        f"value:{m}" for m in macros | set(view["constants"])
    ]
    for tag, t in view["types"].items():
        ref = f"{t['kind']} {tag}"
        facts.append(f"align:{ref}")
        for fname, f in t["fields"].items():
            if "bits" in f:
                facts.append(f"bitfield:{ref}.{fname}")
            else:
                facts += [f"offset:{ref}.{fname}", f"fsize:{ref}.{fname}"]
    gcc = gcc_facts(tree, header, abi, facts) if cache else ask_gcc(tree, header, abi, facts)
    for tag, t in view["types"].items():
        ref = f"{t['kind']} {tag}"
        ours = {f"size:{ref}": t["size"], f"align:{ref}": t["align"]}
        for fname, f in t["fields"].items():
            if "bits" in f:
                ours[f"bitfield:{ref}.{fname}"] = f["bit_offset"] * 256 + f["bits"]
                continue
            ours[f"offset:{ref}.{fname}"] = f["offset"]
            if f["size"] or gcc.get(f"fsize:{ref}.{fname}") is not None:
                ours[f"fsize:{ref}.{fname}"] = f["size"]
        for key, value in ours.items():
            v.checked += 1
            if gcc.get(key) != value:
                v.bad.append(f"{key}: gcc {gcc.get(key)}, vfiogen {value}")
    for name, value in view["constants"].items():
        v.checked += 1
        theirs = gcc.get(f"value:{name}")
        if theirs is None or (theirs - value) % (1 << 64):
            v.bad.append(f"value:{name}: gcc {theirs}, vfiogen {value}")
    for k in sorted(tags - kinds):
        if gcc.get(f"size:{k}") is not None:
            v.bad.append(f"{k}: missing (gcc: size {gcc[f'size:{k}']})")
    for m in sorted(macros - set(view["constants"])):
        if gcc.get(f"value:{m}") is not None:
            v.bad.append(f"{m}: missing (gcc: {gcc[f'value:{m}']})")
    return v


def sweep_header(tree: Path, header: str, abis: tuple[str, ...]) -> list[Verdict]:
    views = compile_views(tree, header, abis)
    if isinstance(views, str):
        return [Verdict(header, abi, refused=views) for abi in abis]
    return [compare(tree, header, abi, views[abi]) for abi in abis]


def sweep(tree: Path | None = None, abis: tuple[str, ...] = SWEEP_ABIS) -> dict[str, list[Verdict]]:
    """Verdicts per ABI over each ABI's checkable headers."""
    tree = tree or generic_tree()
    wanted = {abi: set(checkable(tree, abi)) for abi in abis}
    out: dict[str, list[Verdict]] = {abi: [] for abi in abis}
    for header in sorted(set().union(*wanted.values())):
        these = tuple(a for a in abis if header in wanted[a])
        for v in sweep_header(tree, header, these):
            out[v.abi].append(v)
    return out


def figure(verdicts: dict[str, list[Verdict]]) -> str:
    lines = []
    for abi, vs in verdicts.items():
        same = sum(v.identical for v in vs)
        refused = sum(v.refused is not None for v in vs)
        lines.append(
            f"{abi}: {same} of {len(vs)} headers identical to gcc ({100 * same / max(1, len(vs)):.1f}%), "
            f"{refused} refused, {len(vs) - same - refused} with differences"
        )
    return "\n".join(lines)
