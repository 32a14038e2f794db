"""The ABI diff (`vfiogen diff`): every consecutive pair of pinned releases,
checked against facts gcc and libabigail establish on their own, the known
real cases, synthetic changes for each rule, and the CLI contract."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

import pytest

import uapi_facts
from uapi_facts import HEADERS, require_abigail
from support import RELEASES, release_spec
from vfiogen.analyses.diff.compare import diff
from vfiogen.emit.reports import diff as diff_render
from vfiogen.cli.main import main
from vfiogen.analyses.diff.model import CHANGES, ENTITIES, SEVERITIES, Change, Report
from vfiogen.errors import DiffError
from vfiogen.ir.model import Field, FieldLayout, RecordLayout, TypeRef
from vfiogen.ir.codec import to_json

PAIRS = list(zip(RELEASES, RELEASES[1:]))
FACT_ABIS = ("x86_64", "i386")
HEADER_PAIRS = [
    (h, o, n)
    for h in HEADERS
    for o, n in PAIRS
    if uapi_facts.has_header(o, h) and uapi_facts.has_header(n, h)
]
CONSTANT_ENTITIES = {"request", "constant", "enumerator", "flag"}


@functools.lru_cache(maxsize=None)
def report(old: str, new: str) -> Report:
    return diff(release_spec(old), release_spec(new), old, new)


def find(
    rep: Report, name: str, change: str | None = None, entity: str | None = None
) -> list[Change]:
    return [
        c
        for c in rep.changes
        if c.name == name
        and (change is None or c.change == change)
        and (entity is None or c.entity == entity)
    ]


def covers(changes: list[Change], abi: str) -> bool:
    return any(c.abi in (None, abi) for c in changes)


# --- known real cases -------------------------------------------------------------


@pytest.mark.parametrize("old,new", [("6.3", "6.13"), ("6.1", "7.2")])
def test_type1_info_gains_pad_and_aligned_u64(old: str, new: str) -> None:
    """6.1 and 6.3 have no `pad` (see the headers); 6.13 adds it and turns
    iova_pgsizes into __aligned_u64: a layout change only i386 sees."""
    rep = report(old, new)
    pad = find(rep, "vfio_iommu_type1_info.pad", "added", "field")
    assert {c.abi for c in pad} == {"x86_64", "i386", "aarch64", "powerpc64"}
    assert all(c.severity == "compatible" for c in pad)
    assert "in padding" in next(c.detail for c in pad if c.abi == "x86_64")
    assert "at the tail" in next(c.detail for c in pad if c.abi == "i386")
    (size,) = find(rep, "vfio_iommu_type1_info", "changed", "type")
    assert (
        size.abi == "i386" and "size 20 -> 24" in size.detail and "alignment 4 -> 8" in size.detail
    )
    assert size.severity == "compatible" and "VFIO_IOMMU_GET_INFO" in size.detail
    (typ,) = find(rep, "vfio_iommu_type1_info.iova_pgsizes", "changed", "field")
    assert "__u64 -> __aligned_u64" in typ.detail and "alignment 4 -> 8 on i386" in typ.detail


def test_type1_info_unchanged_from_6_1_to_6_3() -> None:
    assert not [c for c in report("6.1", "6.3").changes if "vfio_iommu_type1_info" in c.name]


@pytest.mark.parametrize("old,new", [("6.3", "6.13"), ("4.19", "7.2")])
def test_type1_nesting_iommu_disappears_in_6_13(old: str, new: str) -> None:
    (gone,) = find(report(old, new), "VFIO_TYPE1_NESTING_IOMMU", "removed")
    assert gone.severity == "breaking" and gone.entity == "constant"
    assert "renamed to __VFIO_RESERVED_TYPE1_NESTING_IOMMU, same value 6" in gone.detail
    assert "source break" in gone.detail
    (new_name,) = find(report(old, new), "__VFIO_RESERVED_TYPE1_NESTING_IOMMU", "added")
    assert new_name.severity == "compatible"


def test_device_state_running_macro_becomes_enumerator() -> None:
    (c,) = find(report("5.16", "6.1"), "VFIO_DEVICE_STATE_RUNNING")
    assert (c.entity, c.change, c.severity, c.abi) == ("enumerator", "changed", "breaking", None)
    assert "macro = 1 -> enumerator of enum vfio_device_mig_state = 2" in c.detail
    assert "VFIO_DEVICE_STATE_V1_RUNNING" in c.detail  # where the old value went


def test_define_to_enumerator_with_the_same_value_is_compatible() -> None:
    (c,) = find(report("5.16", "6.1"), "VFIO_DEVICE_STATE_RESUMING")
    assert c.severity == "compatible" and "same value 4" in c.detail


def test_member_moved_into_an_anonymous_union() -> None:
    rep = report("6.3", "6.13")
    (moved,) = find(rep, "vfio_pci_dependent_device.group_id", "changed")
    assert moved.severity == "compatible" and "anonymous union with devid" in moved.detail
    (alias,) = find(rep, "vfio_pci_dependent_device.devid", "added")
    assert alias.severity == "compatible" and "alternative to group_id" in alias.detail


def test_field_carved_out_of_a_reserved_field() -> None:
    rep = report("6.13", "6.19")
    (new,) = find(rep, "iommu_hw_info.out_max_pasid_log2", "added")
    assert new.severity == "compatible" and "reserved __reserved" in new.detail
    assert all(c.severity == "compatible" for c in find(rep, "iommu_hw_info.__reserved"))


@pytest.mark.parametrize(
    "old,new,record",
    [
        ("4.19", "5.16", "vfio_device_info"),  # argsz, VFIO_DEVICE_GET_INFO
        ("6.13", "6.19", "vfio_device_bind_iommufd"),  # argsz
        ("6.13", "6.19", "iommu_viommu_alloc"),  # iommufd size, copy_struct_from_user
    ],
)
def test_tail_growth_under_size_negotiation_is_compatible(old: str, new: str, record: str) -> None:
    (c,) = find(report(old, new), record, "changed", "type")
    assert c.severity == "compatible" and c.abi is None and "growth at the tail" in c.detail


def test_count_sentinel_growth_is_compatible() -> None:
    (c,) = find(report("4.19", "5.16"), "VFIO_CCW_NUM_IRQS", "changed")
    assert c.severity == "compatible" and c.detail.startswith("1 -> 3")


def test_doc_changes_are_cosmetic() -> None:
    docs = [c for c in report("6.19", "7.2").changes if c.entity == "doc"]
    assert docs and {c.severity for c in docs} == {"cosmetic"}
    assert find(report("6.19", "7.2"), "VFIO_MIG_GET_PRECOPY_INFO", "changed", "doc")


def test_flags_are_reported_as_flags() -> None:
    (c,) = find(report("6.19", "7.2"), "VFIO_PRECOPY_INFO_REINIT", "added")
    assert c.entity == "flag" and "vfio_precopy_info.flags" in c.detail


# --- every consecutive pair -----------------------------------------------------------


@pytest.mark.parametrize("old,new", PAIRS)
def test_report_shape(old: str, new: str) -> None:
    rep = report(old, new)
    data = json.loads(diff_render.render_diff(rep, "json"))
    assert set(data) == {"old", "new", "changes"} and (data["old"], data["new"]) == (old, new)
    assert data["changes"], "every pinned pair has some change"
    abis = set(release_spec(new).abis)
    for c in data["changes"]:
        assert set(c) == {"entity", "name", "change", "severity", "abi", "detail"}
        assert c["entity"] in ENTITIES and c["change"] in CHANGES
        assert c["severity"] in SEVERITIES
        assert c["abi"] is None or c["abi"] in abis
        assert c["detail"] and "\n" not in c["detail"]
        assert (c["severity"] == "cosmetic") == (c["entity"] == "doc")
        if c["entity"] == "field":
            assert "." in c["name"]
    assert diff_render.changes_from_json(data) == rep.changes
    assert len(set(rep.changes)) == len(rep.changes), "no duplicate entries"


@pytest.mark.parametrize("release", RELEASES)
def test_self_diff_is_empty(release: str) -> None:
    rep = diff(release_spec(release), release_spec(release))
    assert rep.changes == [] and not rep.breaking


@pytest.mark.gcc
@pytest.mark.parametrize("header,old,new", HEADER_PAIRS)
@pytest.mark.parametrize("abi", FACT_ABIS)
def test_every_abidiff_change_is_reported(header: str, old: str, new: str, abi: str) -> None:
    """Layout changes libabigail finds (check-uapi.sh's compile recipe) are
    all in our report, on that ABI."""
    require_abigail()
    facts = uapi_facts.parse_abidiff(uapi_facts.abidiff(old, new, header, abi))
    rep = report(old, new)
    missing = []
    for f in facts:
        entities = CONSTANT_ENTITIES if f.entity == "enumerator" else {f.entity}
        hits = [c for c in find(rep, f.name, f.change) if c.entity in entities]
        if not covers(hits, abi):
            missing.append(f)
    assert missing == []


@pytest.mark.gcc
def test_abidiff_parser_sees_the_known_facts() -> None:
    """Guards the test above against a parser that finds nothing."""
    require_abigail()
    facts = set(uapi_facts.parse_abidiff(uapi_facts.abidiff("6.3", "6.13", HEADERS[0], "i386")))
    F = uapi_facts.Fact
    assert F("type", "vfio_iommu_type1_info", "changed") in facts
    assert F("field", "vfio_iommu_type1_info.pad", "added") in facts
    assert F("field", "vfio_pci_dependent_device.group_id", "changed") in facts
    assert F("enumerator", "VFIO_DEVICE_STATE_NR", "added") in facts


@pytest.mark.gcc
@pytest.mark.parametrize("header,old,new", HEADER_PAIRS)
@pytest.mark.parametrize("abi", FACT_ABIS)
def test_every_constant_change_gcc_sees_is_reported(
    header: str, old: str, new: str, abi: str
) -> None:
    """Macro values from a gcc probe and enumerators from the DWARF: what
    abidiff cannot see (ioctl numbers, flag bits, removed and renamed
    constants, define -> enumerator), each in our report."""
    require_abigail()
    before = {**uapi_facts.macro_values(old, header, abi)}
    after = {**uapi_facts.macro_values(new, header, abi)}
    enum_before = uapi_facts.enumerators(old, header, abi)
    enum_after = uapi_facts.enumerators(new, header, abi)
    before.update(enum_before)
    after.update(enum_after)
    rep = report(old, new)
    expected = []
    for name in sorted(before.keys() | after.keys()):
        if name not in after:
            expected.append((name, "removed"))
        elif name not in before:
            expected.append((name, "added"))
        elif before[name] != after[name] or (name in enum_before) != (name in enum_after):
            expected.append((name, "changed"))
    missing = [
        (name, change)
        for name, change in expected
        if not covers([c for c in find(rep, name, change) if c.entity in CONSTANT_ENTITIES], abi)
    ]
    assert missing == []


@pytest.mark.gcc
def test_gcc_facts_include_the_known_cases() -> None:
    require_abigail()
    assert uapi_facts.macro_values("5.16", HEADERS[0], "x86_64")["VFIO_DEVICE_STATE_RUNNING"] == 1
    assert uapi_facts.enumerators("6.1", HEADERS[0], "x86_64")["VFIO_DEVICE_STATE_RUNNING"] == 2
    assert "VFIO_TYPE1_NESTING_IOMMU" in uapi_facts.macro_values("6.3", HEADERS[0], "i386")
    assert "VFIO_TYPE1_NESTING_IOMMU" not in uapi_facts.macro_values("6.13", HEADERS[0], "i386")


# --- synthetic changes, one rule each --------------------------------------------------


def mutated(release: str = "7.2"):  # type: ignore[no-untyped-def]
    return copy.deepcopy(release_spec(release))


def test_request_number_reused_on_the_same_fd_kind() -> None:
    old, new = mutated(), mutated()
    reset = new.requests.pop("VFIO_DEVICE_RESET")
    frob = copy.deepcopy(new.requests["VFIO_DEVICE_GET_INFO"])
    frob.name, frob.numbers = "VFIO_DEVICE_FROB", dict(reset.numbers)
    new.requests["VFIO_DEVICE_FROB"] = frob
    rep = diff(old, new)
    (added,) = find(rep, "VFIO_DEVICE_FROB", "added")
    assert added.severity == "breaking" and "was VFIO_DEVICE_RESET in OLD" in added.detail
    (gone,) = find(rep, "VFIO_DEVICE_RESET", "removed")
    assert gone.severity == "breaking"


def test_same_number_on_another_fd_kind_is_no_reuse() -> None:
    old, new = mutated(), mutated()
    extra = copy.deepcopy(new.requests["VFIO_GET_API_VERSION"])  # container fd
    extra.name = "VFIO_CONTAINER_FROB"
    extra.numbers = dict(new.requests["VFIO_DEVICE_RESET"].numbers)  # a device fd number
    new.requests[extra.name] = extra
    (added,) = find(diff(old, new), "VFIO_CONTAINER_FROB", "added")
    assert added.severity == "compatible"


def test_request_renamed_with_the_same_number_is_a_source_break() -> None:
    old, new = mutated(), mutated()
    req = new.requests.pop("VFIO_DEVICE_RESET")
    req.name = "VFIO_DEVICE_RESET2"
    new.requests[req.name] = req
    rep = diff(old, new)
    (gone,) = find(rep, "VFIO_DEVICE_RESET", "removed")
    assert gone.severity == "breaking" and "renamed to VFIO_DEVICE_RESET2" in gone.detail
    assert "source break" in gone.detail


def test_request_number_change_is_breaking_on_every_abi() -> None:
    old, new = mutated(), mutated()
    req = new.requests["VFIO_DEVICE_RESET"]
    req.numbers = {a: n + 1 for a, n in req.numbers.items()}
    (c,) = find(diff(old, new), "VFIO_DEVICE_RESET", "changed")
    assert c.severity == "breaking" and c.abi is None and "powerpc64" in c.detail


def test_growth_without_size_negotiation_is_breaking() -> None:
    old, new = mutated(), mutated()
    rec = new.records["vfio_iova_range"]  # element of a counted array: stride
    for a, lay in rec.layout.items():
        lay.size += 8
    rec.fields.append(
        Field(
            "extra",
            TypeRef("int", "__u64", "unsigned long long"),
            rec.fields[-1].loc,
            layout={a: FieldLayout(rec.layout[a].size - 8, 8) for a in rec.layout},
        )
    )
    rep = diff(old, new)
    (t,) = find(rep, "vfio_iova_range", "changed", "type")
    assert t.severity == "breaking" and "embedded in" in t.detail
    (f,) = find(rep, "vfio_iova_range.extra", "added")
    assert f.severity == "breaking"


def test_field_offset_change_is_breaking_only_on_that_abi() -> None:
    old, new = mutated(), mutated()
    f = new.records["vfio_region_info"].fields[-1]
    f.layout["i386"] = FieldLayout(f.layout["i386"].offset + 4, f.layout["i386"].size)
    new.records["vfio_region_info"].layout["i386"] = RecordLayout(40, 8)
    rep = diff(old, new)
    (c,) = find(rep, f"vfio_region_info.{f.name}", "changed")
    assert c.abi == "i386" and c.severity == "breaking"


def test_constant_value_change_and_flag_bit_reuse() -> None:
    old, new = mutated(), mutated()
    new.constants["VFIO_API_VERSION"].value = 1
    mmap = new.constants["VFIO_REGION_INFO_FLAG_MMAP"]
    frob = copy.deepcopy(mmap)  # takes MMAP's bit, MMAP moves to another
    frob.name, mmap.value = "VFIO_REGION_INFO_FLAG_FROB", 1 << 20
    new.constants[frob.name] = frob
    new.value_sets[frob.values or ""].members.append(frob.name)
    rep = diff(old, new)
    (v,) = find(rep, "VFIO_API_VERSION", "changed")
    assert v.severity == "breaking" and v.detail.startswith("0 -> 1")
    (moved,) = find(rep, "VFIO_REGION_INFO_FLAG_MMAP", "changed")
    assert moved.entity == "flag" and moved.severity == "breaking"
    (bit,) = find(rep, "VFIO_REGION_INFO_FLAG_FROB", "added")
    assert bit.entity == "flag" and bit.severity == "breaking"
    assert "already means VFIO_REGION_INFO_FLAG_MMAP" in bit.detail


def test_constant_renamed_with_the_same_value() -> None:
    old, new = mutated(), mutated()
    gone = new.constants.pop("VFIO_REGION_INFO_FLAG_MMAP")
    gone.name = "VFIO_REGION_INFO_FLAG_MMAP_OK"
    new.constants[gone.name] = gone
    rep = diff(old, new)
    (c,) = find(rep, "VFIO_REGION_INFO_FLAG_MMAP", "removed")
    assert c.severity == "breaking" and "renamed to VFIO_REGION_INFO_FLAG_MMAP_OK" in c.detail
    (n,) = find(rep, "VFIO_REGION_INFO_FLAG_MMAP_OK", "added")
    assert n.severity == "compatible"


def test_abis_are_compared_only_where_both_specs_have_them() -> None:
    old, new = mutated(), mutated()
    new.abis = ["x86_64", "i386"]
    rep = diff(old, new)
    assert rep.abis == ["x86_64", "i386"] and rep.notes
    with pytest.raises(DiffError):
        diff(old, new, abis=["powerpc64"])


# --- renderers and CLI ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_formats(fmt: str) -> None:
    rep = report("6.3", "6.13")
    out = diff_render.render_diff(rep, fmt)
    assert "VFIO_TYPE1_NESTING_IOMMU" in out and "i386" in out
    if fmt == "html":
        assert out.startswith("<!DOCTYPE html>") and "<script" not in out and "http" not in out
        assert out.index('class="verdict breaking"') < out.index('id="breaking"')
        assert out.index("Summary") < out.index('id="compatible"')
    if fmt == "markdown":
        assert "| change | entity | name | ABI | what | why |" in out
    if fmt == "text":
        assert out.splitlines()[2].startswith("Verdict: BREAKING")


def test_html_escapes() -> None:
    rep = Report("<a>", "b", ["x86_64"], [Change("doc", "<x>", "changed", "cosmetic", None, "a<b")])
    out = diff_render.render_diff(rep, "html")
    assert "<x>" not in out and "&lt;x&gt;" in out


def test_cli_exit_status_and_output_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d.json"
    assert main(["diff", "6.3", "6.13", "-q", "--format", "json", "-o", str(out)]) == 1
    assert json.loads(out.read_text())["changes"]
    assert main(["diff", "6.19", "7.2", "-q"]) == 0
    assert "Verdict: COMPATIBLE" in capsys.readouterr().out
    assert main(["diff", "7.2", "7.2", "-q"]) == 0
    assert "No changes." in capsys.readouterr().out


def test_cli_accepts_spec_json_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.json"
    old.write_text(to_json(release_spec("6.1")))
    plain = tmp_path / "new.spec"  # not named .json: recognised by its content
    plain.write_text(to_json(release_spec("7.2")))
    assert main(["diff", str(old), str(plain), "-q", "--format", "json"]) == 1
    got = json.loads(capsys.readouterr().out)["changes"]
    assert got == report("6.1", "7.2").to_json()["changes"]


def test_cli_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{ not json")
    other = tmp_path / "v9.json"
    data = json.loads(to_json(release_spec("6.1")))
    data["schema_version"] = 999
    other.write_text(json.dumps(data))
    broken = tmp_path / "broken.json"
    data = json.loads(to_json(release_spec("6.1")))
    del data["records"]["vfio_info_cap_header"]["layout"]["i386"]
    broken.write_text(json.dumps(data))
    cases = [
        (["9.9", "7.2"], "not a pinned release"),
        (["7.2", str(tmp_path / "missing.json")], "not a pinned release"),
        ([str(garbage), "7.2"], "not JSON"),
        ([str(other), "7.2"], "schema version 999"),
        ([str(broken), "7.2"], "no layout for ABI i386"),
        ([str(tmp_path), "7.2"], "not a pinned release"),
        (["7.2", "7.2", "--abis", "sparc"], "unknown ABI sparc"),
    ]
    for args, message in cases:
        assert main(["diff", *args, "-q"]) == 2, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (args, err)
