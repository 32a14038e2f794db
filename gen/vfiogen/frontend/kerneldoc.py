"""Comments of the raw header: kernel-doc blocks, banners, trailing notes.

Preprocessing erases comments, so they are read from the header file itself,
each with its line span. `parse_kerneldoc` splits a `/** ... */` block into
name, pseudo-signature, summary, description, @field docs and sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vfiogen.errors import Loc
from vfiogen.ir.model import DocBlock

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_SECTION = re.compile(
    r"^(Return|Returns|Availability|Context|Note|Notes|Example)\s*:\s*(.*)$", re.I
)
_PARAM = re.compile(r"^@([\w.\[\]]+)\s*:\s*(.*)$")
_SIGNATURE = re.compile(r"^(?:_IO[RW]*|_IOC|ioctl)\s*\(")


@dataclass(frozen=True, slots=True)
class Comment:
    line: int  # first line
    end: int  # last line
    text: str  # without the comment markers and leading " * "
    kerneldoc: bool
    trailing: bool  # code precedes it on its first line


def scan(source: str) -> list[Comment]:
    out = []
    for m in _COMMENT.finditer(source):
        line = source.count("\n", 0, m.start()) + 1
        end = line + m.group().count("\n")
        raw = m.group()
        kdoc = raw.startswith("/**") and not raw.startswith("/**/")
        if raw.startswith("//"):
            body = raw[2:]
        else:
            body = raw[3 if kdoc else 2 : -2]
        lines = [re.sub(r"^\s*\* ?", "", l) for l in body.split("\n")]
        text = "\n".join(lines).strip()
        bol = source.rfind("\n", 0, m.start()) + 1
        trailing = bool(source[bol : m.start()].strip())
        out.append(Comment(line, end, text, kdoc, trailing))
    return out


def banner_title(c: Comment) -> str | None:
    """`/* -------- IOCTLs for GROUP file descriptors -------- */` -> its title."""
    if c.kerneldoc or "---" not in c.text or "\n" in c.text.strip():
        return None
    title = c.text.strip(" -*\t")
    return title or None


def fd_hint(title: str) -> str | None:
    t = title.lower()
    if "group" in t:
        return "group"
    if "device" in t:
        return "device"
    if "/dev/vfio/vfio" in t or "type1" in t or "spapr" in t or "iommu" in t:
        return "container"
    return None


def parse_kerneldoc(c: Comment, file: str) -> DocBlock:
    lines = c.text.split("\n")
    first = lines[0].strip()
    name, _, rest = first.partition(" - ")
    if not rest and ":" in first:
        name, _, rest = first.partition(":")
    i = 1
    signature = ""
    if _SIGNATURE.match(rest.strip()):
        signature = rest.strip()
        while signature.count("(") > signature.count(")") and i < len(lines):
            signature += " " + lines[i].strip()
            i += 1
        signature = re.sub(r"\s+", " ", signature).replace("( ", "(").replace(" )", ")")
        summary = ""
    else:
        summary = rest.strip()
    doc = DocBlock(Loc(file, c.line), name.strip().rstrip("()"), signature, summary)
    params: dict[str, list[str]] = {}
    sections: dict[str, list[str]] = {}
    desc: list[str] = []
    current: list[str] = desc
    for raw in lines[i:]:
        line = raw.rstrip()
        p = _PARAM.match(line.strip())
        s = _SECTION.match(line.strip())
        if p:
            current = params.setdefault(p.group(1), [])
            current.append(p.group(2))
        elif s:
            key = (
                s.group(1).capitalize().rstrip("s")
                if s.group(1).lower().startswith("return")
                else s.group(1).capitalize()
            )
            current = sections.setdefault(key, [])
            current.append(s.group(2))
        elif not line.strip():
            current = desc if current is not desc else desc
            desc.append("")
        else:
            current.append(line.strip() if current is not desc else line)
    doc.params = {k: _join(v) for k, v in params.items()}
    doc.sections = {k: _join(v) for k, v in sections.items()}
    doc.description = _paragraphs(desc)
    if not doc.summary and doc.description:
        doc.summary = _first_sentence(doc.description)
    return doc


def _join(parts: list[str]) -> str:
    return re.sub(r"\s+", " ", " ".join(parts)).strip()


def _paragraphs(lines: list[str]) -> str:
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text)


def _first_sentence(text: str) -> str:
    para = re.sub(r"\s+", " ", text.split("\n\n")[0]).strip()
    m = re.match(r"(.+?[.!?])(\s|$)", para)
    return m.group(1) if m else para
