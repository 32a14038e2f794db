"""MyST Markdown spelling for the reference docs: escaping, roles, prose.

The docs view model (`docs.py`) builds every piece of page text through
these functions, so the templates never escape or decide a link. Links are
Sphinx roles (`{c:struct}`, `{c:macro}`, `{doc}`, `{ref}`): Sphinx resolves
and checks them (nitpicky mode), nothing here computes a URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal

# Every ASCII punctuation character may be backslash-escaped in CommonMark;
# these are the ones that can start markup inside a paragraph or a table cell.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|{}#~$&!])")
_IDENT = re.compile(r"(struct |union |enum )?\b([A-Za-z_][A-Za-z0-9_]*)\b")
_LINE_START = re.compile(r"^(\s*)([-+>=:%]|\d+[.)])")


def text(s: str) -> str:
    """Plain text, safe inside a line or a table cell (not at a line's start)."""
    return _SPECIAL.sub(r"\\\1", " ".join(s.split()))


def code(s: str) -> str:
    """An inline code span; pipes escaped so it also works in a table cell."""
    s = " ".join(s.split())
    ticks = max((len(run) for run in re.findall(r"`+", s)), default=0) + 1
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    fence = "`" * ticks
    return f"{fence}{pad}{s.replace('|', chr(92) + '|')}{pad}{fence}"


def role(name: str, target: str, title: str | None = None) -> str:
    """`{name}`target`` or `{name}`title <target>``."""
    if title is None or title == target:
        return f"{{{name}}}`{target}`"
    return f"{{{name}}}`{_role_title(title)} <{target}>`"


def _role_title(s: str) -> str:
    return s.replace("`", "'").replace("<", "\\<")


def fence(body: str, info: str = "text") -> str:
    """A fenced block whose fence is longer than any backtick run inside."""
    ticks = max(3, max((len(r) for r in re.findall(r"`+", body)), default=0) + 1)
    return f"{'`' * ticks}{info}\n{body.rstrip()}\n{'`' * ticks}"


@dataclass(slots=True)
class Block:
    """One paragraph of prose: reflowed and linked, or kept as written."""

    kind: Literal["text", "pre"]
    body: str


Linker = Callable[[str, str], str | None]  # (keyword, identifier) -> markup or None


def prose(s: str, link: Linker) -> list[Block]:
    """Kernel-doc prose as blocks. A paragraph whose layout carries meaning
    (indented lines, lists, diagrams, rst literal blocks) stays preformatted;
    the rest is reflowed, identifiers linked by `link` or set as code."""
    out: list[Block] = []
    literal_next = False
    for para in re.split(r"\n\s*\n", s.strip("\n")):
        if not para.strip():
            continue
        lines = para.splitlines()
        pre = literal_next or any(
            l[:1].isspace() or re.match(r"\s*([-*+]|\(?\d+[.)])\s", l) for l in lines
        )
        literal_next = para.rstrip().endswith("::")
        if pre:
            out.append(Block("pre", fence(_dedent(lines))))
        else:
            out.append(Block("text", linked(" ".join(l.strip() for l in lines), link)))
    return out


def _dedent(lines: list[str]) -> str:
    indent = min((len(l) - len(l.lstrip()) for l in lines if l.strip()), default=0)
    return "\n".join(l[indent:].rstrip() for l in lines)


def linked(s: str, link: Linker) -> str:
    """One line of prose: known identifiers become roles, other identifiers
    with an underscore become code, the rest is escaped text."""
    out: list[str] = []
    pos = 0
    for m in _IDENT.finditer(s):
        keyword, ident = m.group(1) or "", m.group(2)
        markup = link(keyword.strip(), ident)
        if markup is None and "_" not in ident:
            continue
        out.append(text_fragment(s[pos : m.start()]))
        out.append(keyword + (markup if markup is not None else code(ident)))
        pos = m.end()
    out.append(text_fragment(s[pos:]))
    joined = "".join(out)
    return _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), joined)


def text_fragment(s: str) -> str:
    """Escaped text that may sit between two pieces of markup (keeps spaces)."""
    return _SPECIAL.sub(r"\\\1", s)


def slug(s: str) -> str:
    """A label Sphinx keeps as written: lower case, '-' for anything else."""
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


_SPAN = re.compile(r"`[^`]+`")
_HOLE = re.compile("\x00\\d+\x00")


def docstring(s: str, link: Linker) -> list[Block]:
    """A Python docstring as blocks: as `prose`, its `code` spans kept as
    code (a link when the span is one identifier `link` knows)."""
    spans = _SPAN.findall(s)
    holed = _SPAN.sub(lambda m: "\x00" + str(len(m.group(0))) + "\x00", s)
    out = []
    found = iter(spans)
    for block in prose(holed, link):
        body = _HOLE.sub(lambda _: _span(next(found), link, block.kind), block.body)
        out.append(Block(block.kind, body))
    return out


def _span(span: str, link: Linker, kind: str) -> str:
    inner = span[1:-1]
    if kind == "pre":
        return span
    markup = link("", inner) if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", inner) else None
    return markup if markup is not None else code(inner)
