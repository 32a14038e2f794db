"""Release history (`vfiogen history`): since/until of every entity across
the pinned releases, checked against what gcc and the DWARF say each
release's headers declare, and written into the spec."""

from __future__ import annotations

import copy
import functools
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

import uapi_facts
from support import RELEASES, release_spec
from uapi_facts import HEADERS, require_abigail
from vfiogen.emit.reports import diff as diff_render
from vfiogen.analyses import history
from vfiogen.cli.main import main
from vfiogen.ir.codec import from_json, to_json

SCHEMA_FILE = Path(__file__).parents[2] / "gen/vfiogen/ir/spec.schema.json"


@functools.lru_cache(maxsize=None)
def hist() -> history.History:
    return history.compute([(r, release_spec(r)) for r in RELEASES])


def entry(kind: str, name: str) -> history.Entry:
    e = hist().get(kind, name)
    assert e is not None, (kind, name)
    return e


@pytest.mark.parametrize(
    "kind,name,since,until",
    [
        ("constant", "VFIO_TYPE1_NESTING_IOMMU", "4.19", "6.13"),
        ("constant", "__VFIO_RESERVED_TYPE1_NESTING_IOMMU", "6.13", None),
        ("constant", "VFIO_DEVICE_STATE_RUNNING", "5.10", None),  # macro, then enumerator
        ("constant", "VFIO_DEVICE_STATE_SAVING", "5.10", "6.1"),  # became ..._V1_SAVING
        ("field", "vfio_iommu_type1_info.pad", "6.12", None),
        ("field", "vfio_device_info.cap_offset", "5.10", None),
        ("field", "vfio_pci_dependent_device.devid", "6.12", None),  # in an anonymous union
        ("type", "vfio_device_migration_info", "5.10", None),
        ("capability", "VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE", "5.10", None),  # Linux 5.4
        ("type", "vfio_device_mig_state", "6.1", None),  # an enum type
        ("request", "VFIO_GET_API_VERSION", "4.19", None),
        ("request", "VFIO_DEVICE_BIND_IOMMUFD", "6.12", None),
        ("request", "IOMMU_IOAS_ALLOC", "6.3", None),  # iommufd.h's first pinned release
        ("value_set", "vfio_precopy_info.flags", "7.2", None),  # its first flag came in 7.2
        ("capability", "VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2", "7.2", None),
    ],
)
def test_known_history(kind: str, name: str, since: str, until: str | None) -> None:
    e = entry(kind, name)
    assert (e.since, e.until, e.gaps) == (since, until, False)


def test_entity_labels_follow_the_newest_release() -> None:
    assert entry("constant", "VFIO_DEVICE_STATE_RUNNING").entity == "enumerator"
    assert entry("constant", "VFIO_PRECOPY_INFO_REINIT").entity == "flag"
    assert entry("constant", "VFIO_TYPE1_NESTING_IOMMU").entity == "constant"


def _dwarf_tags(release: str, header: str) -> set[str]:
    root = ET.parse(uapi_facts.abi_xml(release, header, "x86_64")).getroot()
    out = set()
    for tag in ("class-decl", "union-decl", "enum-decl"):
        for el in root.iter(tag):
            if (
                el.get("filepath", "").endswith("/" + header)
                and el.get("is-anonymous") != "yes"
                and el.get("is-declaration-only") != "yes"
            ):
                out.add(el.get("name", ""))
    return out


@pytest.mark.gcc
@pytest.mark.parametrize("release", RELEASES)
def test_history_matches_what_gcc_sees(release: str) -> None:
    """Each release's macros (gcc -dD), enumerators and type tags (DWARF)
    are present in that release according to the history, and every
    constant and type the history places there is one of them."""
    require_abigail()
    h = hist()
    macros: set[str] = set()
    enumerators: set[str] = set()
    tags: set[str] = set()
    for header in HEADERS:
        if uapi_facts.has_header(release, header):
            macros |= set(uapi_facts.macro_names(release, header, "x86_64"))
            enumerators |= set(uapi_facts.enumerators(release, header, "x86_64"))
            tags |= _dwarf_tags(release, header)
    gcc_constants = macros | enumerators
    for name in gcc_constants:
        e = h.get("constant", name) or h.get("request", name)  # requests are macros too
        assert e is not None and release in e.present, name
    for name in tags:
        assert release in entry("type", name).present, name
    ours = {
        e.name
        for e in h.entries.values()
        if e.kind in ("constant", "request") and release in e.present
    }
    function_like = set(release_spec(release).function_macros)
    assert ours - function_like == gcc_constants
    ours_types = {e.name for e in h.entries.values() if e.kind == "type" and release in e.present}
    assert ours_types == tags
    for e in h.entries.values():
        if e.kind in ("constant", "request", "type") and e.name in gcc_constants | tags:
            assert e.since == _start_of_last_run(e.present)


def _start_of_last_run(present: list[str]) -> str:
    """The oldest release from which every release up to the last has it."""
    at = RELEASES.index(present[-1])
    while at > 0 and RELEASES[at - 1] in present:
        at -= 1
    return RELEASES[at]


def test_since_skips_an_earlier_appearance_apart() -> None:
    """Debian's 6.12.y headers carry iommufd PASID fields that 6.13 lacks:
    `since` is where the unbroken run up to the newest release starts."""
    e = entry("field", "iommu_hw_info.out_max_pasid_log2")
    assert (e.since, e.until, e.gaps) == ("6.19", None, True)
    assert e.present == ["6.12", "6.19", "7.2"]
    gone = history.compute([("a", release_spec("6.12")), ("b", release_spec("6.13"))])
    e = gone.get("field", "iommu_hw_info.out_max_pasid_log2")
    assert e is not None and (e.since, e.until, e.gaps) == ("a", "b", False)


def _dwarf_fields(release: str, header: str) -> set[str]:
    """`tag.member` of every named struct/union the header defines, as its
    DWARF says (abidw); members of anonymous structs/unions under their parent."""
    root = ET.parse(uapi_facts.abi_xml(release, header, "x86_64")).getroot()
    by_id = {el.get("id"): el for tag in ("class-decl", "union-decl") for el in root.iter(tag)}

    def names(decl: ET.Element) -> list[str]:
        out = []
        for var in decl.findall("data-member/var-decl"):
            inner = by_id.get(var.get("type-id"))
            if inner is not None and inner.get("is-anonymous") == "yes":
                out += names(inner)
            else:
                out.append(var.get("name", ""))
        return out

    fields = set()
    for decl in by_id.values():
        if (
            decl.get("filepath", "").endswith("/" + header)
            and decl.get("is-anonymous") != "yes"
            and decl.get("is-declaration-only") != "yes"
        ):
            fields |= {f"{decl.get('name')}.{m}" for m in names(decl)}
    return fields


@pytest.mark.gcc
@pytest.mark.parametrize("release", RELEASES)
def test_field_history_matches_the_dwarf(release: str) -> None:
    """The fields the history places in a release are exactly those gcc's
    DWARF of that release's headers has (not those of the specs the history
    was computed from)."""
    require_abigail()
    dwarf = _release_fields(release)
    ours = {e.name for e in hist().entries.values() if e.kind == "field" and release in e.present}
    assert ours == dwarf
    for name in dwarf:
        # since: the first release of the unbroken run that ends at its last appearance
        present = [name in _release_fields(r) for r in RELEASES]
        last = max(i for i, p in enumerate(present) if p)
        start = last
        while start > 0 and present[start - 1]:
            start -= 1
        assert entry("field", name).since == RELEASES[start], name


@functools.lru_cache(maxsize=None)
def _release_fields(release: str) -> frozenset[str]:
    fields: set[str] = set()
    for header in HEADERS:
        if uapi_facts.has_header(release, header):
            fields |= _dwarf_fields(release, header)
    return frozenset(fields)


def test_dated_copy_has_since_and_until() -> None:
    compiled = release_spec("7.2")
    spec, conflicts = history.dated(compiled, hist())
    assert conflicts == []
    assert compiled.history == [] and compiled.requests["VFIO_DEVICE_RESET"].since is None
    assert spec.history == RELEASES
    assert all(r.since for r in spec.requests.values())
    assert all(r.until is None for r in spec.requests.values())
    assert all(c.since for c in spec.constants.values())
    assert spec.records["vfio_iommu_type1_info"].since == "4.19"
    pad = spec.records["vfio_iommu_type1_info"].fields[-1]
    assert (pad.name, pad.since) == ("pad", "6.12")
    bind = spec.requests["VFIO_DEVICE_BIND_IOMMUFD"]
    assert (bind.since, bind.since_pinned) == (
        "6.6",
        ["6.3", "6.12"],
    )  # the overlay's exact version
    alloc = spec.requests["IOMMU_IOAS_ALLOC"]
    assert (alloc.since, alloc.since_pinned) == ("6.2", ["6.1", "6.3"])  # iommufd.h's first
    reset = spec.requests["VFIO_DEVICE_RESET"]
    assert (reset.since, reset.since_pinned) == ("4.19", [])  # no overlay version: the pin
    assert spec.enums["vfio_device_mig_state"].since == "6.1"
    assert spec.value_sets["vfio_device_info.flags"].since == "4.19"
    old, _ = history.dated(release_spec("6.1"), hist())
    assert old.constants["VFIO_TYPE1_NESTING_IOMMU"].until == "6.13"


def test_annotated_spec_round_trips_and_validates() -> None:
    spec, _ = history.dated(release_spec("6.13"), hist())
    text = to_json(spec)
    again = from_json(text)
    assert again.records["vfio_iommu_type1_info"].fields[-1].since == "6.12"
    assert again.requests["IOMMU_IOAS_ALLOC"].since_pinned == ["6.1", "6.3"]
    assert to_json(again) == text
    jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate(json.loads(text))


def test_overlay_version_outside_the_observed_range_is_a_conflict() -> None:
    spec = copy.deepcopy(release_spec("7.2"))
    spec.requests["IOMMU_IOAS_ALLOC"].since = "6.8"  # after 6.3, where it already exists
    spec, conflicts = history.dated(spec, hist())
    assert conflicts and "IOMMU_IOAS_ALLOC" in conflicts[0]
    assert spec.requests["IOMMU_IOAS_ALLOC"].since == "6.3"
    assert spec.requests["IOMMU_IOAS_ALLOC"].since_pinned == []  # the pin is its own evidence


@pytest.mark.parametrize("fmt", ["text", "markdown", "json", "html"])
def test_history_formats(fmt: str) -> None:
    out = diff_render.render_history(hist(), fmt)
    assert "VFIO_TYPE1_NESTING_IOMMU" in out and "6.13" in out
    if fmt == "json":
        data = json.loads(out)
        assert data["releases"] == RELEASES
        (e,) = [x for x in data["entries"] if x["name"] == "VFIO_TYPE1_NESTING_IOMMU"]
        assert (e["since"], e["until"]) == ("4.19", "6.13")
    if fmt == "html":
        assert out.startswith("<!DOCTYPE html>") and "<script" not in out


def test_cli_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "spec.json"
    args = ["history", "-q", "VFIO_DEVICE_BIND_IOMMUFD", "vfio_iommu_type1_info.pad"]
    assert main([*args, "--write-spec", str(out)]) == 0
    text = capsys.readouterr().out
    assert "since 6.12 (overlay: 6.6)" in text and "vfio_iommu_type1_info.pad" in text
    spec = from_json(out.read_text())
    assert spec.requests["VFIO_DEVICE_BIND_IOMMUFD"].since == "6.6"
    assert main(["history", "-q", "--format", "json", "VFIO_TYPE1_NESTING_IOMMU"]) == 0
    (e,) = json.loads(capsys.readouterr().out)["entries"]
    assert (e["since"], e["until"]) == ("4.19", "6.13")
    assert main(["history", "-q"]) == 0
    assert "6.13: " in capsys.readouterr().out
    assert main(["history", "-q", "NO_SUCH_THING"]) == 2
    assert "NO_SUCH_THING" in capsys.readouterr().err
    assert main(["history", "-q", "--write-spec", str(out), "--release", "9.9"]) == 2
