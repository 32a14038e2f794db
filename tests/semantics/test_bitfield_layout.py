"""Bit-fields and packing at each boundary, checked against gcc.

Each record of the crafted header below sits on one edge of gcc's bit-field
rules (PCC_BITFIELD_TYPE_MATTERS on x86): a bit-field that fits its storage
unit exactly and one that straddles it by one bit, zero-width bit-fields
(at the start, between chars), unnamed bit-fields (which do not align the
record), `packed` on the record and on one member, `#pragma pack(1)` and
`(2)`, a union of bit-fields, bit-fields reached through an anonymous
member, and the i386 rule that aligns long long to 4 inside a struct.

gcc is the oracle: for a bit-field, the bytes of a static object whose only
nonzero member is that field set to -1 (offsetof and sizeof do not apply to
bit-fields: tests/uapi_sweep.py, ask_bitfields); for everything else the
asm-offsets probe. The byte offset vfiogen gives a bit-field is the byte
holding its first bit (ir/model.py FieldLayout), which gcc's first set bit
gives too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import uapi_sweep
from support import require_compiler
from vfiogen import pipeline
from vfiogen.emit.reports import inspect
from vfiogen.errors import LayoutError
from vfiogen.inputs import sources

HEADER = """\
#ifndef BF_BOUNDARIES_H
#define BF_BOUNDARIES_H

/* 16 + 16 fills the unit exactly: c starts the next one */
struct bf_exact {
	unsigned int a:16;
	unsigned int b:16;
	unsigned int c:1;
};

/* 30 + 3 straddles one int by one bit: b moves to bit 32; 29 + 3 does not */
struct bf_straddle {
	unsigned int a:30;
	unsigned int b:3;
	unsigned int c:29;
	unsigned int d:3;
};

/* chars and shorts: a 9-bit short after 7 + 2 char bits */
struct bf_small {
	unsigned char a:7;
	unsigned char b:2;
	unsigned short c:9;
	unsigned short d:7;
	unsigned short e:1;
};

/* a long long bit-field after 30 bits: x86_64's unit is 64 bits (moves to 64),
 * i386 aligns long long to 4 in a struct (moves to 32) */
struct bf_long_long {
	unsigned int a:30;
	unsigned long long b:40;
	unsigned long long c:24;
};

/* a zero-width bit-field moves to the next unit of its type, and does not
 * align the record: size 5, alignment 1 */
struct bf_zero_width {
	unsigned char a:3;
	unsigned int :0;
	unsigned char b:2;
};

/* zero-width first: nothing to skip */
struct bf_zero_first {
	unsigned int :0;
	unsigned char a;
	unsigned char b:1;
};

/* zero-width long long on i386 aligns to 4 only */
struct bf_zero_long_long {
	unsigned char a;
	unsigned long long :0;
	unsigned char b;
};

/* an unnamed bit-field takes its bits but does not align the record */
struct bf_unnamed {
	char a;
	int :4;
	char b;
};

/* packed: bit-fields at the next free bit, straddling freely; the first
 * member a bit-field */
struct bf_packed {
	unsigned int a:5;
	unsigned int b:30;
	unsigned char c;
	unsigned long long d:33;
} __attribute__((packed));

/* packed on one member only: b at bit 3 (straddling 5 bytes) instead of
 * the next int; e at bit 8 of its unit after a plain char */
struct bf_member_packed {
	unsigned char a:3;
	unsigned int b:30 __attribute__((packed));
	unsigned char c;
	unsigned char d;
	unsigned int e:30 __attribute__((packed));
};

#pragma pack(push, 1)
struct bf_pack1 {
	unsigned char a:3;
	unsigned int b:30;
	unsigned short c;
	unsigned int d:31;
};
#pragma pack(pop)

#pragma pack(push, 2)
struct bf_pack2 {
	unsigned char a;
	unsigned int b:20;
	unsigned int c:20;
	unsigned long long d;
};
#pragma pack(pop)

/* a union of bit-fields: each starts at 0; size of the widest unit */
union bf_union {
	unsigned int a:3;
	unsigned char b:7;
	unsigned long long c:33;
};

/* bit-fields reached through an anonymous member, after a char */
struct bf_anonymous {
	char x;
	struct {
		unsigned int a:3;
		unsigned int b:30;
	};
	unsigned short y:15;
	unsigned short z:2;
};

/* signed one-bit and full-width fields */
struct bf_signed {
	int a:1;
	int b:31;
	long long c:64;
};

#endif
"""

ABIS = ("x86_64", "i386")


def views(tmp_path: Path) -> tuple[Path, dict[str, dict]]:
    (tmp_path / "bf.h").write_text(HEADER)
    (tmp_path / "linux").mkdir()
    (tmp_path / "linux/ioctl.h").write_text("")  # the probe includes it first
    found = uapi_sweep.compile_views(tmp_path, "bf.h", ABIS)
    assert not isinstance(found, str), found
    return tmp_path, found


@pytest.mark.gcc
@pytest.mark.parametrize("abi", ABIS)
def test_bitfield_boundaries_match_gcc(tmp_path: Path, abi: str) -> None:
    """Rule: every size, alignment, offset and bit-field position of the
    crafted records equals gcc's for the target (its bit-field placement,
    packing and zero-width rules)."""
    require_compiler(abi)
    tree, by_abi = views(tmp_path)
    view = by_abi[abi]
    assert len(view["types"]) == 15
    verdict = uapi_sweep.compare(tree, "bf.h", abi, view, cache=False)
    assert verdict.bad == []
    assert verdict.checked > 80


@pytest.mark.gcc
@pytest.mark.parametrize("abi", ABIS)
def test_bitfield_byte_offset_is_the_byte_of_its_first_bit(tmp_path: Path, abi: str) -> None:
    """Rule: a bit-field's byte offset (docs, bindings, fuzz seeds) is the
    byte holding its first bit, which gcc's object bytes give; and offsets
    are integers (the JSON contract: 4, never 4.0)."""
    require_compiler(abi)
    tree, by_abi = views(tmp_path)
    facts, ours = [], {}
    for tag, t in by_abi[abi]["types"].items():
        for name, f in t["fields"].items():
            assert type(f["offset"]) is int and type(f["size"]) is int, (tag, name, f)
            if "bits" in f:
                fact = f"bitfield:{t['kind']} {tag}.{name}"
                facts.append(fact)
                ours[fact] = f["offset"]
    gcc = uapi_sweep.ask_bitfields(tree, "bf.h", abi, facts)
    assert len(facts) > 30
    wrong = {
        fact: (answer, ours[fact])
        for fact, answer in gcc.items()
        if answer is None or (answer >> 8) // 8 != ours[fact]
    }
    assert wrong == {}


def test_i386_and_x86_64_differ_where_the_abis_do(tmp_path: Path) -> None:
    """The crafted header does reach the ABI difference (long long aligned
    to 4 in an i386 struct), so the gcc comparison above checks it: values
    from gcc -m32 / -m64 on this header (gcc 12-14 agree)."""
    _, by_abi = views(tmp_path)
    x64, i386 = (by_abi[a]["types"]["bf_long_long"] for a in ABIS)
    assert (x64["size"], x64["fields"]["b"]["bit_offset"]) == (16, 64)
    assert (i386["size"], i386["fields"]["b"]["bit_offset"]) == (12, 32)


def test_array_size_that_does_not_evaluate_is_a_layout_error(tmp_path: Path) -> None:
    """Rule: an array whose size expression cannot be evaluated is refused
    at the member, naming the expression (not a crash, not size 0)."""
    (tmp_path / "bad.h").write_text("struct bad {\n\tint n;\n\tchar data[sizeof(int) / 0];\n};\n")
    src = sources.from_header(tmp_path / "bad.h", [tmp_path])
    with pytest.raises(LayoutError) as err:
        pipeline.compile_spec(src, ("x86_64",), overlay_files={}, warn=False)
    assert str(err.value.loc).endswith("bad.h:3")
    assert err.value.message == "array size (sizeof(int)) / 0: division by zero"
    assert inspect  # the view module is what the gcc tests above compare
