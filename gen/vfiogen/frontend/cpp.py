"""Header normalisation: run the C preprocessor and keep what it would erase.

`gcc -E -dD` expands the headers and leaves every `#define` in place with
line markers. This pass takes the defines out (as `Macro`s with their
positions), rewrites `__attribute__((aligned(N)))` (what `__aligned_u64`
expands to) into C11 `_Alignas(N)` so pycparser keeps it, and rewrites line
markers to include-relative file names so positions read `linux/vfio.h:123`.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from vfiogen.errors import Loc, ParseError, SourceError
from vfiogen.inputs.sources import HeaderSource

CPP_FLAGS = (
    "-E",
    "-dD",
    "-nostdinc",
    "-undef",
    "-D__signed__=signed",
    "-D__extension__=",
    "-D__inline__=inline",
    "-D__volatile__=volatile",
    "-D__const=const",
    "-D__restrict=",
    "-D__restrict__=",
    "-D__alignof__=_Alignof",
    "-D__asm__(x)=",
    "-U__SIZEOF_INT128__",
)
# -undef drops gcc's predefined macros; put back what UAPI headers test,
# per ABI: the size of long (__BITS_PER_LONG, hence __kernel_size_t), the
# architecture, the byte order and char's signedness.
_COMMON_DEFINES = (
    "-D__linux__",
    "-D__GNUC__=12",
    "-D__CHAR_BIT__=8",
    "-D__SIZEOF_INT__=4",
    "-D__SIZEOF_SHORT__=2",
    "-D__SIZEOF_LONG_LONG__=8",
    "-D__ORDER_LITTLE_ENDIAN__=1234",
    "-D__ORDER_BIG_ENDIAN__=4321",
)
_LP64 = (
    "-D__LP64__",
    "-D_LP64",
    "-D__SIZEOF_LONG__=8",
    "-D__SIZEOF_POINTER__=8",
    "-D__SIZEOF_SIZE_T__=8",
)
_LITTLE = ("-D__BYTE_ORDER__=1234",)
_BIG = ("-D__BYTE_ORDER__=4321", "-D__BIG_ENDIAN__")
ABI_DEFINES: dict[str, tuple[str, ...]] = {
    "x86_64": ("-D__x86_64__", "-D__x86_64", "-D__amd64__", *_LP64, *_LITTLE),
    "i386": (
        "-D__i386__",
        "-D__i386",
        "-D__ILP32__",
        "-D_ILP32",
        "-D__SIZEOF_LONG__=4",
        "-D__SIZEOF_POINTER__=4",
        "-D__SIZEOF_SIZE_T__=4",
        *_LITTLE,
    ),
    "aarch64": ("-D__aarch64__", "-D__CHAR_UNSIGNED__", *_LP64, *_LITTLE),
    "arm": (
        "-D__arm__",
        "-D__ARM_EABI__",
        "-D__CHAR_UNSIGNED__",
        "-D__SIZEOF_LONG__=4",
        "-D__SIZEOF_POINTER__=4",
        "-D__SIZEOF_SIZE_T__=4",
        *_LITTLE,
    ),
    "riscv64": ("-D__riscv", "-D__riscv_xlen=64", "-D__CHAR_UNSIGNED__", *_LP64, *_LITTLE),
    "s390x": ("-D__s390x__", "-D__s390__", "-D__CHAR_UNSIGNED__", *_LP64, *_BIG),
    "mips64el": (
        "-D__mips__",
        "-D__mips64",
        "-D__mips=64",
        "-D_MIPS_SZLONG=64",
        "-D_MIPS_SIM=3",
        "-D_ABI64=3",
        "-D__MIPSEL__",
        "-D_MIPSEL",
        *_LP64,
        *_LITTLE,
    ),
    "powerpc64": (
        "-D__powerpc64__",
        "-D__powerpc__",
        "-D__PPC64__",
        "-D__PPC__",
        "-D__CHAR_UNSIGNED__",
        *_LP64,
        *_BIG,
    ),
}
TARGET_DEFINES = (*_COMMON_DEFINES, *ABI_DEFINES["x86_64"])

_MARKER = re.compile(r'^# (\d+) "((?:[^"\\]|\\.)*)"(.*)$')
_DEFINE = re.compile(r"^#define ([A-Za-z_]\w*)(\(([^)]*)\))?(?:\s+(.*))?$")
_UNDEF = re.compile(r"^#undef ([A-Za-z_]\w*)")
_ATTRIBUTE = re.compile(r"__attribute__\s*\(\(")


@dataclass(frozen=True, slots=True)
class Macro:
    name: str
    loc: Loc
    params: tuple[str, ...] | None  # None for object-like macros
    body: str


@dataclass(slots=True)
class Preprocessed:
    text: str  # C for pycparser, line markers included
    macros: dict[str, Macro]  # final definitions, in definition order
    files: dict[str, Path]  # include-relative name -> file on disk
    ignored: list[tuple[Loc, str]] = field(default_factory=list)  # attributes with no ABI effect


def preprocess(source: HeaderSource, abi: str = "x86_64") -> Preprocessed:
    # An ABI without asm dirs of its own (Debian ships x86's only) reads the
    # first ABI's, as gcc's probe does with a cross compiler's sysroot.
    dirs = source.include_dirs(
        abi if abi in source.arch or not source.arch else next(iter(source.arch))
    )
    tu = "".join(f"#include <{name}>\n" for name, _ in source.headers)
    defines = (*_COMMON_DEFINES, *ABI_DEFINES.get(abi, ABI_DEFINES["x86_64"]))
    cmd = ["gcc", *CPP_FLAGS, *defines, *(f"-D{d}" for d in source.defines)]
    cmd += [f"-I{d}" for d in dirs] + ["-x", "c", "-"]
    try:
        proc = subprocess.run(cmd, input=tu, capture_output=True, text=True)
    except OSError as exc:
        raise SourceError("gcc", f"cannot run the C preprocessor: {exc}") from None
    if proc.returncode:
        raise _cpp_error(proc.stderr, source)
    return _split(proc.stdout, dirs, source)


def preprocess_all(source: HeaderSource, abis: tuple[str, ...]) -> dict[str, Preprocessed]:
    """One preprocessing per ABI (each with its own target macros); ABIs whose
    text comes out the same share one object, so it is parsed once."""
    out: dict[str, Preprocessed] = {}
    for abi in abis:
        pp = preprocess(source, abi)
        out[abi] = next((q for q in out.values() if q.text == pp.text), pp)
    return out


def _cpp_error(stderr: str, source: HeaderSource) -> ParseError:
    for line in stderr.splitlines():
        m = re.match(r"^(.*?):(\d+):(?:\d+:)? (?:fatal )?error: (.*)$", line)
        if m:
            return ParseError(Loc(m.group(1), int(m.group(2))), f"error: {m.group(3)}")
    first = source.headers[0][1] if source.headers else "<input>"
    return ParseError(
        Loc(str(first)),
        stderr.strip().splitlines()[0] if stderr.strip() else "preprocessing failed",
    )


def _relative(path: str, dirs: list[Path], files: dict[str, Path]) -> str:
    if path.startswith("<"):
        return path
    p = Path(path)
    for d in dirs:
        try:
            rel = str(p.relative_to(d))
        except ValueError:
            continue
        files.setdefault(rel, p)
        return rel
    return path


def _split(output: str, dirs: list[Path], source: HeaderSource) -> Preprocessed:
    macros: dict[str, Macro] = {}
    files: dict[str, Path] = {name: path for name, path in source.headers}
    lines = output.split("\n")
    out: list[str] = []
    ignored: list[tuple[Loc, str]] = []
    pending: list[str] = []  # markers waiting for the ';' of a declaration
    cur_file, cur_line = "<stdin>", 1
    for raw in lines:
        m = _MARKER.match(raw)
        if m:
            cur_file = _relative(m.group(2), dirs, files)
            cur_line = int(m.group(1))
            out.append(f'# {m.group(1)} "{cur_file}"{m.group(3)}')
            continue
        if raw.startswith("#define "):
            d = _DEFINE.match(raw)
            if d:
                params = None
                if d.group(2) is not None:
                    params = tuple(p.strip() for p in d.group(3).split(",") if p.strip())
                macros.pop(d.group(1), None)  # keep definition order of the last one
                macros[d.group(1)] = Macro(
                    d.group(1), Loc(cur_file, cur_line), params, (d.group(4) or "").strip()
                )
            out.append("")
        elif raw.startswith("#undef "):
            u = _UNDEF.match(raw)
            if u:
                macros.pop(u.group(1), None)
            out.append("")
        else:
            text = raw
            if "__attribute__" in raw:
                text = _rewrite_attributes(raw, Loc(cur_file, cur_line), out, ignored, pending)
            semi = text.find(";")
            if pending and semi >= 0:  # a trailing attribute's declaration ends here
                text = f"{text[: semi + 1]} {' '.join(pending)}{text[semi + 1 :]}"
                pending.clear()
            out.append(text)
        cur_line += 1
    return Preprocessed("\n".join(out), macros, files, ignored)


# Markers the rewrite leaves for the parser: pseudo-members pycparser accepts
# where an attribute stood. REC_* apply to the enclosing record, MEM_* to the
# member (or typedef) declared just before them; an array size carries N.
REC_PACKED, REC_ALIGNED = "__vfiogen_rec_packed", "__vfiogen_rec_aligned"
MEM_PACKED, MEM_ALIGNED = "__vfiogen_mem_packed", "__vfiogen_mem_aligned"
# Attributes with no effect on layout or values: dropped, with a note.
HARMLESS = {
    "unused",
    "used",
    "deprecated",
    "may_alias",
    "designated_init",
    "const",
    "pure",
    "noreturn",
    "always_inline",
    "warn_unused_result",
    "nonstring",
    "format",
    "unavailable",
    "visibility",
    "weak",
    "noinline",
    "cold",
    "hot",
    "counted_by",
    "preserve_access_index",
    "btf_type_tag",
    "btf_decl_tag",
}


def _attribute_items(inner: str) -> list[tuple[str, str | None]]:
    """`packed, aligned(4)` -> [("packed", None), ("aligned", "4")]."""
    items, depth, cur = [], 0, ""
    for ch in inner + ",":
        if ch == "," and depth == 0:
            if cur.strip():
                m = re.fullmatch(r"\s*(\w+)\s*(?:\((.*)\))?\s*", cur, re.S)
                if m:
                    name = m.group(1)
                    if name.startswith("__") and name.endswith("__") and len(name) > 4:
                        name = name[2:-2]
                    items.append((name, m.group(2)))
                else:
                    items.append((cur.strip(), None))
            cur = ""
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        cur += ch
    return items


def _rewrite_attributes(
    line: str, loc: Loc, out: list[str], ignored: list[tuple[Loc, str]], pending: list[str]
) -> str:
    """Each `__attribute__((...))` becomes what the parser understands:
    aligned(N) in a declaration's specifiers -> `_Alignas(N)`; packed and
    trailing aligned -> a marker pseudo-member (see REC_*/MEM_*) in the
    record or after the declaration; attributes without an ABI effect are
    dropped and noted; any other is refused, since dropping one (mode,
    vector_size) would silently change the layout."""
    done = ""  # rewritten text before `line`
    after_decl: list[str] = []  # markers placed after the declaration's ';'
    while (m := _ATTRIBUTE.search(line)) is not None:
        depth, i = 2, m.end()
        while i < len(line) and depth:
            depth += {"(": 1, ")": -1}.get(line[i], 0)
            i += 1
        if depth:
            raise ParseError(loc, "unterminated __attribute__")
        before, inner, line = done + line[: m.start()], line[m.end() : i - 2], line[i:]
        spec_position = bool(line.strip()) and line.lstrip()[0] not in ";,=)"
        rec_trailing = before.rstrip().endswith("}") or (
            not before.strip() and bool(out) and out[-1].rstrip().endswith("}")
        )
        rec_leading = re.search(r"\b(struct|union)\s*$", before) is not None
        for name, arg in _attribute_items(inner):
            if name in HARMLESS:
                ignored.append((loc, name))
                continue
            if name not in ("packed", "aligned"):
                raise ParseError(
                    loc,
                    f"unsupported attribute '{name}' (it may change the layout: expected "
                    "packed, aligned(N) or one without an ABI effect)",
                )
            n = arg if arg is not None else "16"  # bare aligned: the target's biggest
            rec = f"char {REC_PACKED};" if name == "packed" else f"char {REC_ALIGNED}[{n}];"
            mem = f"char {MEM_PACKED};" if name == "packed" else f"char {MEM_ALIGNED}[{n}];"
            if rec_trailing:
                before = _insert_before_brace(before, out, rec)
            elif rec_leading:
                brace = line.find("{")
                if brace < 0:
                    raise ParseError(loc, "expected '{' on the line of struct __attribute__")
                line = f"{line[: brace + 1]} {rec} {line[brace + 1 :]}"
            elif name == "aligned" and spec_position and not re.match(r"\s*typedef\b", before):
                before += f" _Alignas({n}) "  # (pycparser drops _Alignas on a typedef)
            else:
                after_decl.append(mem)
        done = before + " "
    pending += after_decl  # placed after the declaration's ';' (this line or a later one)
    return done + line


def _insert_before_brace(before: str, out: list[str], marker: str) -> str:
    """Put `marker` just inside the record's closing brace (on this line's
    text, or on the previous output line when the attribute starts a line)."""
    k = before.rfind("}")
    if k >= 0:
        return before[:k] + marker + " " + before[k:]
    k = out[-1].rfind("}")
    out[-1] = out[-1][:k] + marker + " " + out[-1][k:]
    return before
