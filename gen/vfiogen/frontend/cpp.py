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
from dataclasses import dataclass
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
    "-D__asm__(x)=",
    "-U__SIZEOF_INT128__",
)
# -undef drops gcc's predefined macros; put back what UAPI headers test.
TARGET_DEFINES = (
    "-D__linux__",
    "-D__x86_64__",
    "-D__LP64__",
    "-D__GNUC__=12",
    "-D__CHAR_BIT__=8",
    "-D__BYTE_ORDER__=1234",
    "-D__ORDER_LITTLE_ENDIAN__=1234",
    "-D__ORDER_BIG_ENDIAN__=4321",
)

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


def preprocess(source: HeaderSource, abi: str = "x86_64") -> Preprocessed:
    dirs = source.include_dirs(abi)
    tu = "".join(f"#include <{name}>\n" for name, _ in source.headers)
    cmd = ["gcc", *CPP_FLAGS, *TARGET_DEFINES, *(f"-D{d}" for d in source.defines)]
    cmd += [f"-I{d}" for d in dirs] + ["-x", "c", "-"]
    try:
        proc = subprocess.run(cmd, input=tu, capture_output=True, text=True)
    except OSError as exc:
        raise SourceError("gcc", f"cannot run the C preprocessor: {exc}") from None
    if proc.returncode:
        raise _cpp_error(proc.stderr, source)
    return _split(proc.stdout, dirs, source)


def _cpp_error(stderr: str, source: HeaderSource) -> ParseError:
    for line in stderr.splitlines():
        m = re.match(r"^(.*?):(\d+):(\d+): (?:fatal )?error: (.*)$", line)
        if m:
            return ParseError(Loc(m.group(1), int(m.group(2))), m.group(4))
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
        elif "__attribute__" in raw:
            out.append(_rewrite_attributes(raw, Loc(cur_file, cur_line)))
        else:
            out.append(raw)
        cur_line += 1
    return Preprocessed("\n".join(out), macros, files)


def _rewrite_attributes(line: str, loc: Loc) -> str:
    """`__attribute__((aligned(8)))` -> `_Alignas(8)`; other attributes are
    refused, since dropping one (packed, mode) would silently change layout."""
    result = []
    pos = 0
    for m in _ATTRIBUTE.finditer(line):
        if m.start() < pos:
            continue
        depth, i = 2, m.end()
        while i < len(line) and depth:
            depth += {"(": 1, ")": -1}.get(line[i], 0)
            i += 1
        if depth:
            raise ParseError(loc, "unterminated __attribute__")
        inner = line[m.end() : i - 2].strip()
        a = re.fullmatch(r"(?:__)?aligned(?:__)?\s*\((.+)\)", inner)
        if not a:
            raise ParseError(
                loc, f"unsupported attribute '{inner}' (only aligned(N) is understood)"
            )
        result.append(line[pos : m.start()])
        result.append(f"_Alignas({a.group(1)})")
        pos = i
    result.append(line[pos:])
    return "".join(result)
