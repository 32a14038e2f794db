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
_IDENT = re.compile(
    r"(struct |union |enum )?\b([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\b(\(\))?"
)
"""An identifier, dotted (`vfio._device`) or not, with the `()` of a call."""
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
    """One paragraph of prose: reflowed and linked, or kept as written
    (`code`: a preformatted block's text, unfenced)."""

    kind: Literal["text", "pre", "python", "fragment"]  # the last two: see docs.examples
    body: str
    code: str = ""


Linker = Callable[[str, str], str | None]  # (keyword, identifier) -> markup or None


def prose(s: str, link: Linker) -> list[Block]:
    """Kernel-doc prose as blocks. A paragraph whose layout carries meaning
    (indented lines, lists, diagrams, rst literal blocks) stays preformatted;
    the rest is reflowed, identifiers linked by `link` or set as code."""
    out: list[Block] = []
    literal_next = False
    indented_last = False  # the last block is all indented lines: code a blank line may split
    for para in re.split(r"\n\s*\n", s.strip("\n")):
        if not para.strip():
            continue
        lines = para.splitlines()
        indented = all(l[:1].isspace() for l in lines)
        pre = literal_next or any(
            l[:1].isspace() or re.match(r"\s*([-*+]|\(?\d+[.)])\s", l) for l in lines
        )
        literal_next = para.rstrip().endswith("::")
        if pre and indented and indented_last:  # the same code block, after a blank line
            lines = out.pop().code.splitlines() + [""] + _dedent(lines).splitlines()
        if pre:
            out.append(Block("pre", fence(_dedent(lines)), _dedent(lines)))
        else:
            out.append(Block("text", linked(" ".join(l.strip() for l in lines), link)))
        indented_last = pre and indented
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
        keyword, name, call = m.group(1) or "", m.group(2), m.group(3) or ""
        markup = _identifier(keyword.strip(), name, call, link)
        if markup is None:
            continue
        out.append(text_fragment(s[pos : m.start()]))
        out.append(keyword + markup)
        pos = m.end()
    out.append(text_fragment(s[pos:]))
    joined = "".join(out)
    return _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), joined)


def _identifier(keyword: str, name: str, call: str, link: Linker) -> str | None:
    """An identifier's markup (None: plain text). A dotted name none of
    whose parts is linked is one code span (`vfio._device`, not
    vfio.`_device`), a call's `()` inside it (`dma_buffer()`); otherwise
    each part is linked, set as code (an underscore) or left as text."""
    parts = name.split(".")
    marks = [link(keyword if i == 0 else "", p) for i, p in enumerate(parts)]
    if all(m is None for m in marks):
        return code(name + call) if "_" in name else None
    shown = [
        m if m is not None else code(p) if "_" in p else text_fragment(p)
        for p, m in zip(parts, marks)
    ]
    return ".".join(shown) + call


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
        here = [next(found) for _ in _HOLE.findall(block.body)]
        body = _refill(block.body, [_span(h, link, block.kind) for h in here])
        out.append(Block(block.kind, body, _refill(block.code, here)))
    return out


def _refill(s: str, pieces: list[str]) -> str:
    """`s` with its holes filled by `pieces`, in order."""
    it = iter(pieces)
    return _HOLE.sub(lambda _: next(it), s)


def _span(span: str, link: Linker, kind: str) -> str:
    inner = span[1:-1]
    if kind == "pre":
        return span
    markup = link("", inner) if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", inner) else None
    return markup if markup is not None else code(inner)
