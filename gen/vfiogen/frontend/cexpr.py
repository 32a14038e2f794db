"""C integer constant expressions: macro expansion, parsing, typed evaluation.

Macros are expanded as the C preprocessor would (object-like and
function-like, no re-expansion of a macro inside itself), except the ioctl
encoders `_IO/_IOR/_IOW/_IOWR/_IOC` and `_IOC_NONE/READ/WRITE`, which stay
as calls and are evaluated per ABI (powerpc encodes them differently).
Evaluation follows C's integer types: literal suffixes, promotions, the usual
arithmetic conversions and wrap-around, with `long` and `sizeof` per ABI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Union

from vfiogen.ir.abi import Abi
from vfiogen.frontend.cpp import Macro

IOC_MACROS = {"_IO": "none", "_IOR": "read", "_IOW": "write", "_IOWR": "readwrite", "_IOC": None}
IOC_DIRS = {"_IOC_NONE": "none", "_IOC_READ": "read", "_IOC_WRITE": "write"}
IOC_FIELDS = ("_IOC_NR", "_IOC_TYPE", "_IOC_SIZE", "_IOC_DIR")  # decoders, when not #defined


class EvalError(Exception):
    """Why an expression has no value (the caller adds the position)."""


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>\.?\d(?:[eEpP][+-]|[\w.])*)
  | (?P<id>[A-Za-z_]\w*)
  | (?P<chr>L?'(?:[^'\\\n]|\\.)+')
  | (?P<str>L?"(?:[^"\\\n]|\\.)*")
  | (?P<op>\#\#|<<=|>>=|\.\.\.|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^~!<>=?:,()\[\]{};.#])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str  # num, id, chr, str, op
    text: str


def tokenize(text: str) -> list[Tok]:
    toks, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise EvalError(f"cannot tokenize {text[pos:pos + 10]!r}")
        pos = m.end()
        if m.lastgroup != "ws":
            toks.append(Tok(m.lastgroup or "", m.group()))
    return toks


# --- macro expansion ---------------------------------------------------------


def expand(
    toks: list[Tok], macros: dict[str, Macro], hide: frozenset[str] = frozenset()
) -> list[Tok]:
    """Expand macros in `toks` (C preprocessor semantics, minus # and ##)."""
    out: list[Tok] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        m = macros.get(t.text) if t.kind == "id" and t.text not in hide else None
        if m is None or t.text in IOC_MACROS or t.text in IOC_DIRS:
            out.append(t)
            i += 1
            continue
        if m.params is None:
            out.extend(expand(tokenize(m.body), macros, hide | {t.text}))
            i += 1
            continue
        if i + 1 >= len(toks) or toks[i + 1].text != "(":
            out.append(t)  # a function-like macro name not followed by '('
            i += 1
            continue
        args, i = _collect_args(toks, i + 2)
        body = tokenize(m.body)
        params = list(m.params)
        variadic = bool(params) and params[-1].endswith("...")
        if variadic:
            params[-1] = params[-1][:-3] or "__VA_ARGS__"
            if len(args) > len(params):
                rest = args[len(params) - 1 :]
                joined: list[Tok] = []
                for k, a in enumerate(rest):
                    joined += ([Tok("op", ",")] if k else []) + a
                args = args[: len(params) - 1] + [joined]
        if len(args) != len(params) and not (not params and args == [[]]):
            raise EvalError(f"macro {m.name} takes {len(params)} arguments, got {len(args)}")
        raw = dict(zip(params, args))
        expanded = {p: expand(a, macros, hide) for p, a in raw.items()}
        out.extend(expand(_substitute(body, raw, expanded), macros, hide | {t.text}))
    return out


def _substitute(
    body: list[Tok], raw: dict[str, list[Tok]], expanded: dict[str, list[Tok]]
) -> list[Tok]:
    """A function-like macro's body with its arguments in: `#p` stringizes,
    `a ## b` pastes (operands of # and ## are not macro-expanded first)."""
    out: list[Tok] = []
    k = 0
    while k < len(body):
        b = body[k]
        nxt = body[k + 1] if k + 1 < len(body) else None
        if b.text == "#" and nxt is not None and nxt.text in raw:
            text = " ".join(t.text for t in raw[nxt.text]).replace("\\", "\\\\").replace('"', '\\"')
            out.append(Tok("str", f'"{text}"'))
            k += 2
            continue
        if b.text == "##" and out and nxt is not None:
            right = raw.get(nxt.text, [nxt]) if nxt.kind == "id" else [nxt]
            left = out.pop()
            out.extend(tokenize(left.text + right[0].text) if right else [left])
            out.extend(right[1:])
            k += 2
            continue
        if b.kind == "id" and b.text in raw:
            pasted = (nxt is not None and nxt.text == "##") or (k > 0 and body[k - 1].text == "##")
            out.extend(raw[b.text] if pasted else expanded[b.text])
        else:
            out.append(b)
        k += 1
    return out


def _collect_args(toks: list[Tok], i: int) -> tuple[list[list[Tok]], int]:
    args: list[list[Tok]] = [[]]
    depth = 0
    while i < len(toks):
        t = toks[i]
        if t.text == "(":
            depth += 1
        elif t.text == ")":
            if depth == 0:
                return args, i + 1
            depth -= 1
        elif t.text == "," and depth == 0:
            args.append([])
            i += 1
            continue
        args[-1].append(t)
        i += 1
    raise EvalError("unterminated macro argument list")


# --- parsing -----------------------------------------------------------------
# Nodes are tuples: ("num", value, CType[, literal]), ("id", name), ("un", op, x),
# ("bin", op, a, b), ("cond", c, a, b), ("cast", ctype, x),
# ("sizeof", typename), ("ioc", macro, [args], typename|None), ("iocdir", name)

Node = tuple[Any, ...]  # ("op", operands...): the parsed expression tree


@dataclass(frozen=True, slots=True)
class CType:
    """An integer type: `rank` orders int < long < long long; `bits` is per ABI."""

    name: str  # int, unsigned int, long, ..., size_t for sizeof
    signed: bool
    rank: int  # 1 int, 2 long, 3 long long (lower ranks promote to int)


INT = CType("int", True, 1)
UINT = CType("unsigned int", False, 1)
LONG = CType("long", True, 2)
ULONG = CType("unsigned long", False, 2)
LLONG = CType("long long", True, 3)
ULLONG = CType("unsigned long long", False, 3)
CHAR_TYPES = {
    "char": CType("char", True, 0),
    "signed char": CType("signed char", True, 0),
    "unsigned char": CType("unsigned char", False, 0),
    "_Bool": CType("_Bool", False, 0),
    "short": CType("short", True, 0),
    "unsigned short": CType("unsigned short", False, 0),
}
SCALARS = {t.name: t for t in (INT, UINT, LONG, ULONG, LLONG, ULLONG)} | CHAR_TYPES

TYPE_WORDS = {
    "unsigned",
    "signed",
    "int",
    "long",
    "short",
    "char",
    "_Bool",
    "struct",
    "union",
    "enum",
    "const",
    "volatile",
}


def canonical_scalar(words: list[str]) -> str | None:
    """['unsigned', 'long', 'long', 'int'] -> 'unsigned long long'."""
    ws = [w for w in words if w not in ("const", "volatile")]
    unsigned = "unsigned" in ws
    signed = "signed" in ws
    rest = [w for w in ws if w not in ("unsigned", "signed", "int")]
    if rest == ["char"]:
        return "unsigned char" if unsigned else ("signed char" if signed else "char")
    if rest == ["_Bool"]:
        return "_Bool"
    if rest in (["float"], ["double"]) and not (unsigned or signed):
        return rest[0]  # a layout only: constants are integers
    base = {(): "int", ("short",): "short", ("long",): "long", ("long", "long"): "long long"}.get(
        tuple(rest)
    )
    if base is None or (not ws):
        return None
    return f"unsigned {base}" if unsigned else base


class Parser:
    """Precedence-climbing parser over expanded tokens.

    is_type(name) says whether an identifier names a typedef, which is how a
    parenthesised type (cast, sizeof) is told from a parenthesised expression.
    """

    BINARY = [
        ("||",),
        ("&&",),
        ("|",),
        ("^",),
        ("&",),
        ("==", "!="),
        ("<", ">", "<=", ">="),
        ("<<", ">>"),
        ("+", "-"),
        ("*", "/", "%"),
    ]

    def __init__(self, toks: list[Tok], is_type: Callable[[str], bool]) -> None:
        self.toks = toks
        self.i = 0
        self.is_type = is_type

    def parse(self) -> Node:
        if not self.toks:
            raise EvalError("empty expression")
        node = self.conditional()
        if self.i != len(self.toks):
            raise EvalError(f"unexpected {self.toks[self.i].text!r}")
        return node

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.toks[j].text if j < len(self.toks) else ""

    def take(self, text: str | None = None) -> Tok:
        if self.i >= len(self.toks):
            raise EvalError("expression ends too early")
        t = self.toks[self.i]
        if text is not None and t.text != text:
            raise EvalError(f"expected {text!r}, got {t.text!r}")
        self.i += 1
        return t

    def conditional(self) -> Node:
        c = self.binary(0)
        if self.peek() == "?":
            self.take("?")
            a = self.conditional()
            self.take(":")
            b = self.conditional()
            return ("cond", c, a, b)
        return c

    def binary(self, level: int) -> Node:
        if level == len(self.BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in self.BINARY[level]:
            op = self.take().text
            left = ("bin", op, left, self.binary(level + 1))
        return left

    def starts_type(self, k: int = 0) -> bool:
        t = self.peek(k)
        return t in TYPE_WORDS or t == "void" or (bool(t) and self.is_type(t))

    def typename(self) -> str:
        words: list[str] = []
        while self.starts_type() or (words and words[-1] in ("struct", "union", "enum")):
            words.append(self.take().text)
        stars = ""
        while self.peek() == "*":
            self.take()
            stars += "*"
        if not words:
            raise EvalError("expected a type name")
        dims = ""
        while self.peek() == "[":  # an array type: `__u8[16]`, `int [2]`
            self.take("[")
            start = self.i
            depth = 0
            while self.peek() and (self.peek() != "]" or depth):
                depth += {"[": 1, "]": -1}.get(self.take().text, 0)
            dims += "[" + " ".join(t.text for t in self.toks[start : self.i]) + "]"
            self.take("]")
        return " ".join(words) + (" " + stars if stars else "") + dims

    def unary(self) -> Node:
        t = self.peek()
        if t in ("-", "+", "~", "!"):
            self.take()
            return ("un", t, self.unary())
        if t == "sizeof":
            self.take()
            k = 1 if self.peek() == "(" else 0
            j = self.i + k
            if j < len(self.toks) and self.toks[j].kind == "str":
                size = 1  # sizeof("prefix" "suffix"): the bytes of the joined literal + NUL
                while j < len(self.toks) and self.toks[j].kind == "str":
                    size += len(_string_bytes(self.toks[j].text))
                    j += 1
                self.i = j
                if k:
                    self.take(")")
                return ("num", size, ULONG)
            if self.peek() == "(" and self.starts_type(1):
                self.take("(")
                name = self.typename()
                self.take(")")
                return ("sizeof", name)
            raise EvalError("sizeof of an expression is not supported")
        if t == "_Alignof":
            self.take()
            self.take("(")
            name = self.typename()
            self.take(")")
            return ("alignof", name)
        if (
            t == "("
            and self.peek(1) in ("typeof", "__typeof__", "__typeof")
            and self.peek(2) == "("
        ):
            self.i += 3  # (__typeof__(x))y: y converted to x's type
            of = self.conditional()
            self.take(")")
            self.take(")")
            return ("cast_typeof", of, self.unary())
        if t == "(" and self.starts_type(1):
            self.take("(")
            name = self.typename()
            self.take(")")
            return ("cast", name, self.unary())
        return self.primary()

    def primary(self) -> Node:
        t = self.take()
        if t.text == "(":
            node = self.conditional()
            self.take(")")
            return node
        if t.kind == "num":
            return ("num", *parse_int(t.text), t.text)
        if t.kind == "chr":
            return ("num", parse_char(t.text), INT)
        if t.kind == "id":
            if t.text in IOC_MACROS and self.peek() == "(":
                return self.ioc(t.text)
            if t.text in IOC_DIRS:
                return ("iocdir", IOC_DIRS[t.text])
            if (
                t.text in IOC_FIELDS and self.peek() == "("
            ):  # _IOC_NR(REQ), linux/ioctl.h not included
                self.take("(")
                arg = self.conditional()
                self.take(")")
                return ("iocfield", t.text, arg)
            return ("id", t.text)
        if t.kind == "str":
            raise EvalError("a string is not an integer")
        raise EvalError(f"unexpected {t.text!r}")

    def ioc(self, macro: str) -> Node:
        self.take("(")
        args: list[Node] = []
        size_type = None
        while True:
            is_size = macro in ("_IOR", "_IOW", "_IOWR") and len(args) == 2
            if is_size:
                size_type = self.typename()
            else:
                args.append(self.conditional())
            if self.peek() == ",":
                self.take(",")
                continue
            self.take(")")
            break
        want = 4 if macro == "_IOC" else 2
        if len(args) != want or (macro in ("_IOR", "_IOW", "_IOWR") and size_type is None):
            raise EvalError(
                f"{macro} takes {want + (macro != '_IO' and macro != '_IOC')} arguments"
            )
        return ("ioc", macro, args, size_type)


_INT_RE = re.compile(r"^(0[xX][0-9a-fA-F]+|0[bB][01]+|0[0-7]*|[1-9]\d*)([uUlL]*)$")


def parse_int(text: str, long_bits: int = 64) -> tuple[int, CType]:
    """A C integer literal and its type (C11 6.4.4.1) where `long` has
    `long_bits` (a literal's type depends on the ABI: 4294967296 is a long
    on x86_64, a long long on i386)."""
    m = _INT_RE.match(text)
    if not m:
        raise EvalError(f"not an integer literal: {text}")
    digits, suffix = m.group(1), m.group(2).lower()
    if digits[:2].lower() == "0x":
        value, decimal = int(digits, 16), False
    elif digits[:2].lower() == "0b":
        value, decimal = int(digits[2:], 2), False
    elif digits.startswith("0") and len(digits) > 1:
        value, decimal = int(digits, 8), False
    else:
        value, decimal = int(digits), True
    u = "u" in suffix
    longs = suffix.count("l")
    order = [INT, UINT, LONG, ULONG, LLONG, ULLONG]
    cands = [t for t in order if t.rank >= max(1, longs + 1) and (t.signed is False or not u)]
    if decimal and not u:
        cands = [t for t in cands if t.signed]
    # The literal's type is the first that holds it; the parser types it
    # with a 64-bit long, the evaluator again for an ABI with a 32-bit one.
    for t in cands:
        bits = 32 if t.rank == 1 else long_bits if t.rank == 2 else 64
        limit = 1 << (bits - 1 if t.signed else bits)
        if value < limit:
            return value, t
    raise EvalError(f"integer literal too large: {text}")


_ESCAPES = {
    "n": 10,
    "t": 9,
    "r": 13,
    "0": 0,
    "\\": 92,
    "'": 39,
    '"': 34,
    "a": 7,
    "b": 8,
    "f": 12,
    "v": 11,
    "?": 63,
}


def _string_bytes(text: str) -> bytes:
    """The bytes of a (narrow) C string literal, escapes decoded."""
    body = text[text.index('"') + 1 : -1]
    out, i = bytearray(), 0
    while i < len(body):
        if body[i] != "\\":
            out += body[i].encode()
            i += 1
            continue
        m = re.match(r"\\(x[0-9a-fA-F]+|[0-7]{1,3}|.)", body[i:])
        assert m is not None
        out.append(parse_char(f"'{m.group()}'") & 0xFF)
        i += len(m.group())
    return bytes(out)


def parse_char(text: str) -> int:
    body = text[text.index("'") + 1 : -1]
    if body.startswith("\\"):
        if body[1] == "x":
            return int(body[2:], 16)
        if body[1].isdigit():
            return int(body[1:], 8)
        return _ESCAPES[body[1]]
    return ord(body)


# --- evaluation ----------------------------------------------------------------

Value = tuple[int, CType]
Resolver = Callable[[str], Union[Value, None]]


class Evaluator:
    """Evaluates parsed expressions for one ABI.

    ident(name) gives the value of an enumerator or another macro (or None);
    sizeof(typename) and scalar(typename) come from the layout engine.
    """

    def __init__(
        self,
        abi: Abi,
        ident: Resolver,
        sizeof: Callable[[str], int],
        scalar: Callable[[str], str | None],
        alignof: Callable[[str], int] | None = None,
    ) -> None:
        self.abi = abi
        self.ident = ident
        self.sizeof = sizeof
        self.scalar = scalar
        self.alignof = alignof

    def bits(self, t: CType) -> int:
        if t.rank == 0:
            return {"char": 8, "signed char": 8, "unsigned char": 8, "_Bool": 8}.get(t.name, 16)
        if t.rank == 1:
            return 32
        if t.rank == 2:
            return self.abi.long * 8
        return 64

    def wrap(self, value: int, t: CType) -> int:
        bits = self.bits(t)
        value &= (1 << bits) - 1
        if t.signed and value >= 1 << (bits - 1):
            value -= 1 << bits
        return value

    def promote(self, t: CType) -> CType:
        return INT if t.rank == 0 else t

    def common(self, a: CType, b: CType) -> CType:
        a, b = self.promote(a), self.promote(b)
        if a == b:
            return a
        if a.signed == b.signed:
            return a if a.rank > b.rank else b
        u, s = (a, b) if not a.signed else (b, a)
        if u.rank >= s.rank:
            return u
        if self.bits(s) > self.bits(u):
            return s
        return {LONG: ULONG, LLONG: ULLONG, INT: UINT}[s]

    def value(self, node: Node) -> int:
        return self.eval(node)[0]

    def eval(self, node: Node) -> Value:
        kind = node[0]
        if kind == "num":
            v, t = node[1], node[2]
            if len(node) > 3 and self.abi.long * 8 != 64:
                v, t = parse_int(node[3], self.abi.long * 8)
            return self.wrap(v, t), t
        if kind == "id":
            v = self.ident(node[1])
            if v is None:
                raise EvalError(f"'{node[1]}' is not a known constant")
            return v
        if kind == "un":
            v, t = self.eval(node[2])
            t = self.promote(t)
            op = node[1]
            if op == "!":
                return int(not v), INT
            r = {"-": -v, "+": v, "~": ~v}[op]
            return self.wrap(r, t), t
        if kind == "cast_typeof":
            t = self.eval(node[1])[1]
            return self.wrap(self.eval(node[2])[0], t), t
        if kind == "cast":
            v, _ = self.eval(node[2])
            t = self._ctype(node[1])
            if t.name == "_Bool":  # C11 6.3.1.2: a nonzero value becomes 1, not wrapped
                return int(v != 0), t
            return self.wrap(v, t), t
        if kind == "sizeof":
            return self.size_of(node[1]), ULONG
        if kind == "alignof":
            if self.alignof is None:
                raise EvalError(f"_Alignof({node[1]}) needs the layout")
            return self.alignof(node[1]), ULONG
        if kind == "cond":
            c, _ = self.eval(node[1])
            a, b = self.eval(node[2]), self.eval(node[3])
            t = self.common(a[1], b[1])
            return self.wrap(a[0] if c else b[0], t), t
        if kind == "iocfield":
            enc, number = self.abi.ioc, self.eval(node[2])[0] & 0xFFFFFFFF
            widths = [enc.nrbits, enc.typebits, enc.sizebits, enc.dirbits]
            k = IOC_FIELDS.index(node[1])
            return (number >> sum(widths[:k])) & ((1 << widths[k]) - 1), UINT
        if kind == "iocdir":
            ioc = self.abi.ioc
            return {"none": ioc.none, "read": ioc.read, "write": ioc.write}[node[1]], UINT
        if kind == "ioc":
            return self.ioc(node)[0], UINT
        if kind == "bin":
            return self.binary(node[1], node[2], node[3])
        raise EvalError(f"cannot evaluate {kind}")

    def ioc(self, node: Node) -> tuple[int, str, int, int, int]:
        """(number, direction, type, nr, size) of an ioctl encoder call."""
        _, macro, args, size_type = node
        enc = self.abi.ioc
        if macro == "_IOC":
            d, t, n, s = (self.value(a) for a in args)
            dirs = {
                enc.none: "none",
                enc.read: "read",
                enc.write: "write",
                enc.read | enc.write: "readwrite",
            }
            direction = dirs.get(d, "none")
        else:
            t, n = (self.value(a) for a in args)
            direction = IOC_MACROS[macro] or "none"
            s = self.size_of(size_type) if size_type else 0
            d = {
                "none": enc.none,
                "read": enc.read,
                "write": enc.write,
                "readwrite": enc.read | enc.write,
            }[direction]
        if s > enc.max_size():
            raise EvalError(f"size {s} does not fit the {enc.name} ioctl size field")
        return enc.encode(d, t, n, s), direction, t, n, s

    def size_of(self, typename: str) -> int:
        """sizeof a type name, arrays (`__u8[16]`) included."""
        m = re.fullmatch(r"(.*?)((?:\[[^\]]*\])+)", typename)
        if m is None:
            return self.sizeof(typename)
        size = self.sizeof(m.group(1).strip())
        for dim in re.findall(r"\[([^\]]*)\]", m.group(2)):
            size *= self.value(Parser(tokenize(dim), lambda _: False).parse())
        return size

    def _ctype(self, name: str) -> CType:
        if name.endswith("*"):
            return ULONG
        base = self.scalar(name)
        if base is None or base not in SCALARS:
            raise EvalError(f"cannot cast to '{name}'")
        return SCALARS[base]

    def binary(self, op: str, a_node: Node, b_node: Node) -> Value:
        if op == "&&":
            a = self.eval(a_node)[0]
            return (int(bool(self.eval(b_node)[0])) if a else 0), INT
        if op == "||":
            a = self.eval(a_node)[0]
            return (1 if a else int(bool(self.eval(b_node)[0]))), INT
        (a, at), (b, bt) = self.eval(a_node), self.eval(b_node)
        if op in ("<<", ">>"):
            t = self.promote(at)
            if b < 0 or b >= self.bits(t):
                raise EvalError(f"shift by {b} is undefined for {t.name}")
            return self.wrap(a << b if op == "<<" else a >> b, t), t
        t = self.common(at, bt)
        a, b = self.wrap(a, t), self.wrap(b, t)
        if op in ("==", "!=", "<", ">", "<=", ">="):
            truth = {"==": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}
            return int(truth[op]), INT
        if op in ("/", "%"):
            if b == 0:
                raise EvalError("division by zero")
            q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
            return self.wrap(q if op == "/" else a - q * b, t), t
        r = {"+": a + b, "-": a - b, "*": a * b, "&": a & b, "|": a | b, "^": a ^ b}[op]
        return self.wrap(r, t), t
