"""Facts about a UAPI header established without vfiogen: gcc and libabigail.

- macros: `gcc -dD -E` lists the object-like macros a header defines itself
  (line markers tell which file each #define is in); a `-S` probe (the
  asm-offsets technique of gccprobe) gives their integer values. Macros gcc
  cannot use as an integer constant (strings, type names) are dropped.
- enumerators: the DWARF of an object compiled as check-uapi.sh does, as
  abidw writes it (`<enumerator name= value=>` inside the header's enums).
- layout changes: abidw + abidiff on those objects, parsed into facts
  (entity, name, change) that our diff report must contain.
"""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

import gccprobe
from support import IN_CI, release_source
from vfiogen.ir.abi import ABIS

HEADERS = ("linux/vfio.h", "linux/iommufd.h")
WORK = Path(tempfile.mkdtemp(prefix="vfiogen-uapi-facts-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
DEFINE = re.compile(r"^#define ([A-Za-z_]\w*)(?!\()\s+(\S.*)$")
MARKER = re.compile(r'^# \d+ "([^"]+)"')


def _flags(release: str, abi: str) -> list[str]:
    """gcc flags for one release and ABI, as gccprobe.run builds them."""
    src = release_source(release)
    flags = list(ABIS[abi].gcc_flags)
    if src.arch.get(abi):
        flags.append("-nostdinc")
        dirs = src.include_dirs(abi)
    else:
        dirs = list(src.generic)
    flags += [f"-D{d}" for d in src.defines]
    return flags + [f"-I{d}" for d in dirs]


def has_header(release: str, header: str) -> bool:
    return header in dict(release_source(release).headers)


@functools.lru_cache(maxsize=None)
def macro_names(release: str, header: str, abi: str) -> tuple[str, ...]:
    """Object-like macros with a body, defined in `header` itself."""
    cmd = ["gcc", *_flags(release, abi), "-dD", "-E", "-x", "c", "-"]
    out = subprocess.run(
        cmd, input=f"#include <{header}>\n", capture_output=True, text=True, check=True
    ).stdout
    names, current = [], ""
    for line in out.splitlines():
        m = MARKER.match(line)
        if m:
            current = m.group(1)
            continue
        d = DEFINE.match(line)
        if d and current.endswith("/" + header):
            names.append(d.group(1))
    return tuple(dict.fromkeys(names))


@functools.lru_cache(maxsize=None)
def macro_values(release: str, header: str, abi: str) -> dict[str, int]:
    """gcc's integer value of every macro `header` defines (those it can
    evaluate as an integer constant expression)."""
    names = list(macro_names(release, header, abi))
    cc = gccprobe.compiler_for(abi)
    assert cc is not None
    for _ in range(10):
        view = {"types": {}, "constants": {n: 0 for n in names}}
        text = gccprobe.probe_source(release_source(release), view)
        text = text.replace(
            "".join(f"#include <{h}>\n" for h, _ in release_source(release).headers),
            f"#include <{header}>\n",
        )
        lines = text.splitlines()
        cmd = [cc, *_flags(release, abi), "-S", "-o", "-", "-x", "c", "-"]
        proc = subprocess.run(cmd, input=text, capture_output=True, text=True)
        if proc.returncode == 0:
            facts = {}
            for m in re.finditer(r'\.ascii\s+"->value:(\S+) (\d+) (\d+) (\d+) (\d+)"', proc.stdout):
                v = sum(int(m.group(i)) << (16 * (i - 2)) for i in range(2, 6))
                facts[m.group(1)] = v - (1 << 64) if v >= 1 << 63 else v
            return facts
        bad = set()
        for m in re.finditer(r"<stdin>:(\d+):", proc.stderr):
            line = lines[int(m.group(1)) - 1]
            p = re.search(r'P\("value:(\w+)"', line)
            if p:
                bad.add(p.group(1))
        if not bad:
            raise AssertionError(f"gcc probe failed for {release} {header}:\n{proc.stderr[:2000]}")
        names = [n for n in names if n not in bad]
    raise AssertionError("gcc probe did not converge")


# --- objects, abidw, abidiff --------------------------------------------------------


def abigail_tools() -> bool:
    return shutil.which("abidw") is not None and shutil.which("abidiff") is not None


def require_abigail() -> None:
    """libabigail is installed by tests/install-abigail.sh; CI must have it."""
    if not abigail_tools():
        if IN_CI:
            pytest.fail("abidw/abidiff missing in CI: run tests/install-abigail.sh in setup")
        pytest.skip("abigail-tools not installed (tests/install-abigail.sh)")


def check_uapi_command(release: str, header: str, abi: str, out: Path) -> list[str]:
    """check-uapi.sh's recipe: the header included into an empty program
    (given on stdin), compiled with -g -fno-eliminate-unused-debug-types."""
    return [
        "gcc",
        *_flags(release, abi),
        "-c",
        "-o",
        str(out),
        "-x",
        "c",
        "-O0",
        "-std=c90",
        "-fno-eliminate-unused-debug-types",
        "-g",
        "-include",
        header,
        "-",
    ]


@functools.lru_cache(maxsize=None)
def compile_object(release: str, header: str, abi: str) -> Path:
    out = WORK / f"{release}-{header.replace('/', '_')}-{abi}.o"
    subprocess.run(
        check_uapi_command(release, header, abi, out),
        input="int main(void) { return 0; }\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return out


@functools.lru_cache(maxsize=None)
def abi_xml(release: str, header: str, abi: str) -> Path:
    obj = compile_object(release, header, abi)
    out = obj.with_suffix(".xml")
    subprocess.run(
        ["abidw", "--load-all-types", "--out-file", str(out), str(obj)],
        capture_output=True,
        check=True,
    )
    return out


@functools.lru_cache(maxsize=None)
def enumerators(release: str, header: str, abi: str) -> dict[str, int]:
    """Every enumerator of the enums `header` declares, from the DWARF."""
    root = ET.parse(abi_xml(release, header, abi)).getroot()
    out = {}
    for enum in root.iter("enum-decl"):
        if not enum.get("filepath", "").endswith("/" + header):
            continue
        for e in enum.iter("enumerator"):
            out[e.get("name", "")] = int(e.get("value", "0"))
    return out


def abidiff(old: str, new: str, header: str, abi: str) -> str:
    """abidiff's report; its exit status is a bit mask (4: change, 8:
    incompatible), anything with bit 1 or 2 set is an error."""
    proc = subprocess.run(
        [
            "abidiff",
            "--non-reachable-types",
            "--harmless",
            str(abi_xml(old, header, abi)),
            str(abi_xml(new, header, abi)),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode & 3:
        raise AssertionError(f"abidiff failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


@dataclass(frozen=True)
class Fact:
    entity: str  # "type", "field" or "enumerator"
    name: str
    change: str  # "added", "removed", "changed"


_BLOCK = re.compile(r"^  \[([ADC])\] '(struct|union|enum) ([^']+)'")
_MEMBER = re.compile(r"^\s+'(?:[^']*?)\b(\w+)(?:\[\d*\])*', at offset")
_MEMBER_CHANGE = re.compile(r"^(\s+)(?:type of |and )?'(?:[^']*?)\b(\w+)(?:\[\d*\])*'")
_REPLACED = re.compile(r"data member '(\w+)::(\w+)' was replaced by anonymous data member")
_ENUMERATOR = re.compile(r"^\s+'[^':]*::(\w+)' (?:value|from value)")


def parse_abidiff(text: str) -> list[Fact]:
    """The changes abidiff reports, as facts; member changes that abidiff
    shows only because a sub-type changed ("details were reported earlier",
    no size or offset change) are left out: the sub-type carries them."""
    facts: list[Fact] = []
    kind = tag = ""
    section = ""
    member: tuple[str, int] | None = None  # (name, indent) of a data member change
    member_real = False

    def close_member() -> None:
        nonlocal member, member_real
        if member and member_real:
            facts.append(Fact("field", f"{tag}.{member[0]}", "changed"))
        member, member_real = None, False

    for line in text.splitlines():
        m = _BLOCK.match(line)
        if m:
            close_member()
            op, kind, tag = m.groups()
            section = ""
            named = not tag.startswith(("__anonymous", "{")) and " " not in tag
            if op in "AD" and named:
                facts.append(Fact("type", tag, "added" if op == "A" else "removed"))
            continue
        if not tag:
            continue
        s = line.strip()
        if re.match(r"\d+ data member insertions?:", s):
            close_member()
            section = "insert"
            continue
        if re.match(r"\d+ data member deletions?:", s):
            close_member()
            section = "delete"
            continue
        if re.match(r"\d+ data member changes?", s):
            close_member()
            section = "change"
            continue
        if re.match(r"\d+ enumerator (insertions?|deletions?|changes?):", s):
            close_member()
            section = {"i": "e+", "d": "e-", "c": "e~"}[s.split()[2][0]]
            continue
        if s.startswith("type size changed") and kind in ("struct", "union") and not member:
            if not tag.startswith("{") and " " not in tag:
                facts.append(Fact("type", tag, "changed"))
            continue
        r = _REPLACED.search(line)
        if r:
            close_member()
            facts.append(Fact("field", f"{r.group(1)}.{r.group(2)}", "changed"))
            continue
        if section in ("insert", "delete"):
            mm = _MEMBER.match(line)
            if mm:
                change = "added" if section == "insert" else "removed"
                facts.append(Fact("field", f"{tag}.{mm.group(1)}", change))
            continue
        if section == "change":
            mc = _MEMBER_CHANGE.match(line)
            indent = len(line) - len(line.lstrip())
            if mc and (member is None or indent <= member[1]) and not s.startswith("and "):
                close_member()
                member = (mc.group(2), indent)
                member_real = "offset changed" in s
                continue
            if member and (
                "offset changed" in s
                or "type size changed" in s
                or "entity changed" in s
                or "type name changed" in s
            ):
                member_real = True
            continue
        if section.startswith("e"):
            me = _ENUMERATOR.match(line)
            if me:
                change = {"e+": "added", "e-": "removed", "e~": "changed"}[section]
                facts.append(Fact("enumerator", me.group(1), change))
    close_member()
    return list(dict.fromkeys(facts))
