"""C's own rules, each on a tiny header of its own and compared with gcc for
every ABI: the layout engine (placement, alignment, unions, arrays, the
flexible array member) and the constant evaluator (literal types, integer
promotions, the usual arithmetic conversions where `long` and `int` have
equal width, wrap-around, shifts, division, the conditional operator).
Each case names the rule it checks; gcc, not this project, gives the answer."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import gccprobe
from oracle import mismatches
from support import require_compiler
from vfiogen import pipeline
from vfiogen.errors import LayoutError
from vfiogen.inputs import sources
from vfiogen.ir.abi import DEFAULT_ABIS
from vfiogen.ir.model import Spec

# rule -> a constant expression whose value depends on that rule
CONVERSIONS = {
    # C11 6.3.1.8: unsigned operand of rank >= the signed one's: unsigned wins
    "CONV_INT_UINT": "(-1 < 1U)",
    "CONV_UINT_LONG_CMP": "(1U < -1L)",  # the unsigned operand first
    "CONV_LONG_ULONG": "(-1L < 1UL)",
    # ... of lower rank, but the signed type cannot hold all its values
    # (equal widths: long and unsigned int on i386): the unsigned version of
    # the signed type. x86_64: long holds every unsigned int: long wins.
    "CONV_LONG_UINT_CMP": "(-1L < 1U)",
    "CONV_LONG_UINT_SUM": "(-1L + 0U)",
    "CONV_LONG_UINT_DIV": "(-2L / 2U)",
    # long long vs unsigned long: equal width on 64-bit ABIs, wider on i386
    "CONV_LLONG_ULONG_CMP": "(-1LL < 1UL)",
    "CONV_LLONG_ULONG_SUM": "(-1LL + 0UL)",
    # the conditional operator's result takes the common type
    "CONV_COND_LONG_UINT": "(1 ? -1L : 0U)",
    "CONV_COND_INT_UINT": "(1 ? -1 : 0U)",
    # integer promotions: char and short operands become int
    "PROMOTE_UCHAR": "((unsigned char)255 + 1)",
    "PROMOTE_SHORT_NEG": "((short)-1 < 0U)",
    "PROMOTE_CAST_WRAP": "((unsigned char)300)",
    "PROMOTE_NOT_UCHAR": "(~(unsigned char)0)",
    # casts wrap to the target's width (char 8 bits, short 16); to _Bool: 0 or 1
    "CAST_CHAR": "((char)300)",
    "CAST_CHAR_POSITIVE": "((char)100)",  # all 8 bits: stays positive
    "CAST_SCHAR_POSITIVE": "((signed char)100)",
    "CAST_SCHAR": "((signed char)200)",
    "CAST_SHORT": "((short)40000)",
    "CAST_USHORT": "((unsigned short)70000)",
    "CAST_BOOL": "((_Bool)2)",
    # the usual arithmetic conversions with equal signedness: the higher rank
    "RANK_INT_LONG": "(1 + 4294967296)",
    "RANK_UINT_ULONG": "(0U - 1UL)",
    "RANK_LONG_INT": "(4294967296 + 1)",
    # literal types (6.4.4.1): decimal takes the first signed type that holds it,
    # hex/octal may take unsigned ones
    "LIT_DEC_2P31": "(2147483648 > -1)",
    "LIT_HEX_2P31": "(0x80000000 > -1)",
    "LIT_DEC_2P32": "(4294967296 > 0)",
    "LIT_UL_SUFFIX": "(0xffffffffUL + 1)",
    "LIT_OCTAL": "(0777 + 0x10 + 0b101)",
    "LIT_OCT_UINT": "(037777777777 > -1)",  # octal: may be unsigned, as hex
    "LIT_BIN_UINT": "(0b11111111111111111111111111111111 > -1)",  # binary: may be unsigned
    "LIT_HEX_U64": "(0xffffffffffffffff > 0)",  # unsigned long (long long on i386)
    "LIT_HEX_2P62": "(0x4000000000000000 > -1)",  # long: the signed type holds it
    # wrap-around of unsigned arithmetic, per the type's width on each ABI
    "WRAP_UINT": "(0xffffffffU + 1)",
    "WRAP_ULONG": "(~0UL)",
    "WRAP_NEG_UINT": "(-1U)",
    "WRAP_MUL": "(0x10000U * 0x10000U)",
    # a signed value stays positive up to its type's maximum
    "WRAP_INT_MAX": "(0x40000000 + 0x3fffffff)",
    "WRAP_INT_MIN": "(-0x7fffffff - 1)",
    # shifts: the result has the promoted left operand's type
    "SHIFT_LONG": "(1L << 31)",
    "SHIFT_ULL": "(1ULL << 63 >> 62)",
    "SHIFT_SIGNED_RIGHT": "(-16 >> 2)",
    # division truncates towards zero; % follows
    "DIV_TRUNC": "(-7 / 2)",
    "MOD_SIGN": "(-7 % 3)",
    "DIV_UNSIGNED": "(-8 / 2U)",
    # relational, equality and logical operators give int 0/1
    "REL_CHAIN": "((3 > 2) + (2 >= 2) + (1 <= 0) + (5 == 5) + (5 != 5) + (1 && 2) + (0 || 0))",
    "LOGIC_NOT": "(!0 + !7)",
    "BIT_OPS": "((0xf0 | 0x0f) ^ (0xff & 0x3c))",
    "UNARY_PLUS_NEG": "(+3 - -2)",
    "SIZEOF_MIX": "(sizeof(long) + sizeof(int *) * 2 + sizeof(short))",
}

HEADER = """\
#include <linux/types.h>

/* placement: each member at the next multiple of its alignment */
struct rule_pad {{
\t__u8 a;
\t__u32 b;
\t__u8 c;
\t__u64 d;
\t__u16 e;
}};

/* __aligned_u64 raises alignment to 8 even on i386 */
struct rule_aligned {{
\t__u32 a;
\t__aligned_u64 b;
\t__u32 c;
}};

/* a union's members all sit at 0; its size is its largest member, rounded */
union rule_union {{
\t__u8 bytes[5];
\t__u32 word;
\t__u16 half;
}};

/* arrays of arrays and of records, nested records */
struct rule_nested {{
\t__u16 grid[5][3];
\tunion rule_union u[2];
\tstruct rule_pad p;
\t__u8 last;
}};

/* a flexible array member has size 0 and is placed at its alignment */
struct rule_flex {{
\t__u8 n;
\t__u64 data[];
}};

/* long and pointers differ by ABI */
struct rule_long {{
\t__u8 a;
\tlong b;
\tvoid *p;
\tchar c;
}};

/* only bytes: aligned to 1; no members at all (GNU C): size 0, aligned to 1 */
struct rule_bytes {{
	__u8 a[3];
	char b;
}};

struct rule_empty {{
}};

/* an array sized by a constant expression */
#define RULE_COUNT (sizeof(struct rule_pad) / 4)
struct rule_counted {{
\t__u32 a[RULE_COUNT];
\t__u8 b;
}};

{constants}
"""


def write_header(directory: Path, name: str, text: str) -> Path:
    path = directory / "linux" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rules_header(tmp: Path) -> tuple[sources.HeaderSource, Spec]:
    constants = "\n".join(f"#define {n} {e}" for n, e in CONVERSIONS.items())
    path = write_header(tmp, "rules.h", HEADER.format(constants=constants))
    src = sources.from_header(path, [])
    return src, pipeline.compile_spec(src, overlay_files={}, warn=False)


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> tuple[sources.HeaderSource, Spec]:
    return rules_header(tmp_path_factory.mktemp("rules"))


def value(spec: Spec, name: str, abi: str) -> int:
    c = spec.constants[name]
    assert isinstance(c.value, int), name
    return c.per_abi[abi] if c.per_abi else c.value


@pytest.mark.gcc
@pytest.mark.parametrize("abi", DEFAULT_ABIS)
def test_layout_and_constant_rules_match_gcc(rules, abi: str) -> None:
    """Every size, alignment, offset and constant of the rules header is what
    gcc computes for that ABI."""
    require_compiler(abi)
    src, spec = rules
    assert not spec.unevaluated
    checked, bad = mismatches(spec, src, abi)
    assert checked >= 35 + len(CONVERSIONS)
    assert bad == []


@pytest.mark.gcc
@pytest.mark.parametrize(
    "name, abi, gcc_says",
    [
        # the case a `>=` instead of `>` on widths gets wrong: i386 long is 32 bits
        ("CONV_LONG_UINT_CMP", "i386", 0),
        ("CONV_LONG_UINT_CMP", "x86_64", 1),
        ("CONV_LONG_UINT_SUM", "i386", 0xFFFFFFFF),
        ("CONV_LONG_UINT_SUM", "x86_64", -1),
        ("CONV_LLONG_ULONG_CMP", "i386", 1),
        ("CONV_LLONG_ULONG_CMP", "x86_64", 0),
        ("CONV_COND_LONG_UINT", "i386", 0xFFFFFFFF),
    ],
)
def test_usual_arithmetic_conversions_equal_width_signed_unsigned(
    rules, name: str, abi: str, gcc_says: int, tmp_path: Path
) -> None:
    """C11 6.3.1.8: with a signed operand of higher rank but no more bits than
    the unsigned one, both convert to the signed type's unsigned version.
    The expected number is gcc's (asserted first), then ours must agree
    exactly, not only modulo 2^64."""
    require_compiler(abi)
    src, spec = rules
    view = {"types": {}, "constants": {name: 0}}
    facts = gccprobe.run(src, abi, view)
    gcc = facts[f"value:{name}"] % (1 << (64 if abi != "i386" else 32))
    assert gcc == gcc_says % (1 << (64 if abi != "i386" else 32))
    ours = value(spec, name, abi)
    assert ours == gcc_says


def refused_by_gcc(path: Path, abi: str) -> str:
    cc = gccprobe.compiler_for(abi)
    assert cc is not None
    proc = subprocess.run(
        [cc, "-S", "-o", "/dev/null", "-x", "c", str(path)], capture_output=True, text=True
    )
    assert proc.returncode != 0, "gcc accepts it"
    return proc.stderr


@pytest.mark.gcc
@pytest.mark.parametrize(
    "body, line",
    [
        ("\t__u32 n;\n\t__u32 data[];\n\t__u32 after;\n", 5),
        ("\t__u32 data[];\n\t__u32 n;\n", 4),
    ],
)
def test_flexible_array_member_not_last_is_refused(tmp_path: Path, body: str, line: int) -> None:
    """C11 6.7.2.1p18: only the last member may be a flexible array. gcc
    refuses the header; so must the layout engine, at the member's line."""
    require_compiler("x86_64")
    path = write_header(
        tmp_path, "flex.h", "#include <linux/types.h>\n\nstruct bad_flex {\n" + body + "};\n"
    )
    assert "flexible array member not at end" in refused_by_gcc(path, "x86_64")
    with pytest.raises(LayoutError) as err:
        pipeline.compile_spec(sources.from_header(path, []), overlay_files={}, warn=False)
    assert str(err.value.loc) == f"linux/flex.h:{line}"
    assert "flexible array 'data' is not the last member" in err.value.message


def test_flexible_array_member_last_is_accepted(rules) -> None:
    _, spec = rules
    flex = spec.records["rule_flex"]
    assert [f.layout["i386"].size for f in flex.fields] == [1, 0]
