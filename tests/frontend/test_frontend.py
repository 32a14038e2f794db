"""What the front end keeps that C preprocessing erases: flag sets bound to
their field, enum groups, kernel-doc, banners, __counted_by, strings,
function-like macros, anonymous members, __aligned_u64."""

from __future__ import annotations

import functools

from support import release_spec, synthetic_source
from vfiogen import pipeline as compiler
from vfiogen.ir.model import Spec


@functools.lru_cache(maxsize=None)
def synth() -> Spec:
    return compiler.compile_spec(synthetic_source(), overlay_files={}, warn=False)


def test_flags_between_fields_bind_to_the_field_above() -> None:
    s = synth()
    flags = s.value_sets["synth_info.flags"]
    assert flags.members == ["SYNTH_INFO_FLAG_A", "SYNTH_INFO_FLAG_B", "SYNTH_INFO_MASK"]
    assert flags.kind == "flags"
    assert s.value_sets["synth_info.index"].kind == "values"  # -1 is no bit
    info = s.records["synth_info"]
    assert [f.values for f in info.fields[:3]] == [None, "synth_info.flags", "synth_info.index"]
    assert s.constants["SYNTH_INFO_FLAG_A"].doc == "first flag"


def test_real_header_flag_sets() -> None:
    s = release_spec("7.2")
    assert s.value_sets["vfio_region_info.flags"].members == [
        "VFIO_REGION_INFO_FLAG_READ",
        "VFIO_REGION_INFO_FLAG_WRITE",
        "VFIO_REGION_INFO_FLAG_MMAP",
        "VFIO_REGION_INFO_FLAG_CAPS",
    ]
    feat = s.value_sets["vfio_device_feature.flags"]
    assert (
        "VFIO_DEVICE_FEATURE_MASK" in feat.members and "VFIO_DEVICE_FEATURE_PROBE" in feat.members
    )
    # linked by the overlay: an enum stored in a __u32
    mig = s.value_sets["enum vfio_device_mig_state"]
    assert "vfio_device_feature_mig_state.device_state" in mig.fields


def test_enums_and_constants() -> None:
    s = synth()
    assert s.enums["synth_kind"].enumerators == [
        "SYNTH_KIND_A",
        "SYNTH_KIND_B",
        "SYNTH_KIND_C",
        "SYNTH_KIND_D",
    ]
    assert s.constants["SYNTH_KIND_D"].value == 6 + 0x40
    assert "anon:SYNTH_IDX_0" in s.enums and s.constants["SYNTH_NUM_IDX"].value == 2
    assert s.constants["SYNTH_NAME"].value == "synth-dev"
    assert s.constants["SYNTH_CHAR_NL"].value == 10
    assert s.constants["SYNTH_LONG_BITS"].per_abi == {
        "x86_64": 64,
        "i386": 32,
        "aarch64": 64,
        "powerpc64": 64,
    }
    assert s.function_macros["SYNTH_FN"].params == ["x"]
    assert s.constants["SYNTH_USES_FN"].value == 42
    assert s.unevaluated == []


def test_requests_and_ioc() -> None:
    s = synth()
    r = s.requests["SYNTH_SET_IRQS"]
    assert (r.ioc.macro, r.ioc.dir, r.ioc.size_type) == ("_IOW", "write", "struct synth_irq_set")
    assert r.numbers["x86_64"] == (1 << 30) | (12 << 16) | (ord("S") << 8) | 0x41
    assert r.numbers["powerpc64"] == (4 << 29) | (12 << 16) | (ord("S") << 8) | 0x41
    assert s.requests["SYNTH_RW"].numbers["i386"] != s.requests["SYNTH_RW"].numbers["x86_64"]
    assert s.requests["SYNTH_ALIAS"].numbers == s.requests["SYNTH_RW"].numbers
    assert s.requests["SYNTH_GET_INFO"].section == "IOCTLs for the synth file descriptor"


def test_kerneldoc() -> None:
    s = synth()
    doc = s.requests["SYNTH_GET_INFO"].doc
    assert (
        doc is not None and doc.signature == "_IOWR(SYNTH_TYPE, SYNTH_BASE + 0, struct synth_info)"
    )
    assert (
        doc.summary == "Fill in the info."
        and doc.sections["Return"] == "0 on success, -errno on failure."
    )
    rdoc = s.records["synth_info"].doc
    assert rdoc is not None and rdoc.params["flags"] == "what the device can do"
    assert s.records["synth_info"].fields[1].doc == "what the device can do"
    # 7.2: a multi-line pseudo-signature, Return and Availability sections
    real = release_spec("7.2").requests["VFIO_DEVICE_GET_REGION_INFO"].doc
    assert real is not None
    assert real.signature == "_IOWR(VFIO_TYPE, VFIO_BASE + 8, struct vfio_region_info)"
    assert (
        release_spec("7.2").requests["VFIO_GET_API_VERSION"].doc.sections["Availability"]
        == "Always"
    )


def test_layout_constructs() -> None:
    s = synth()
    anon = s.records["synth_anon"]
    assert anon.fields[1].name == "" and anon.fields[1].type.name == "synth_anon::anon0"
    assert anon.fields[-1].counted_by == "tail_count"
    info = s.records["synth_info"]
    size = next(f for f in info.fields if f.name == "size")
    plain = next(f for f in info.fields if f.name == "plain")
    assert size.align == 8 and plain.align is None
    assert size.layout["i386"].offset % 8 == 0
    assert info.layout["i386"].align == 8 and s.records["synth_pair"].layout["i386"].align == 4
    grid = next(f for f in info.fields if f.name == "grid")
    # `__u16 grid[3][5]`: an array of 3 arrays of 5, spelled as C spells it
    assert grid.type.count == 3 and grid.type.of is not None and grid.type.of.count == 5
    assert grid.type.c() == "__u16[3][5]"
    assert grid.layout["x86_64"].size == 30
    assert s.records["synth_irq_set"].layout["x86_64"].size == 12  # data[] counts as 0


def test_sources_positions_point_at_the_header() -> None:
    s = release_spec("7.2")
    r = s.records["vfio_region_info"]
    assert r.loc.file == "linux/vfio.h"
    lines = (
        (synthetic_source().headers[0][1].parent.parent / "linux/synth.h").read_text().split("\n")
    )
    info = synth().records["synth_info"]
    assert "argsz" in lines[info.fields[0].loc.line - 1]
    assert lines[synth().constants["SYNTH_INFO_MASK"].loc.line - 1].startswith(
        "#define SYNTH_INFO_MASK"
    )
