"""[extensions] and [region_vendors]: VFIO_CHECK_EXTENSION's values and the
PCI vendor of each region subtype family reach the spec per release and
vfio.abi, checked against the headers' own text and the kernel's source;
each way an entry can be wrong is one positioned error."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support import RELEASES, release_source, release_spec
from test_overlay import compile_with
from test_overlay_bad_input import build_with
from vfiogen.emit import tree as render
from vfiogen.errors import OverlayError
from vfiogen.inputs import releases

ROOT = Path(__file__).parents[2]
SHIPPED = (ROOT / "headers/vfio.toml").read_text()
MODELS = ["VFIO_TYPE1_IOMMU", "VFIO_TYPE1v2_IOMMU", "VFIO_SPAPR_TCE_IOMMU"]
MODELS += ["VFIO_SPAPR_TCE_v2_IOMMU", "VFIO_NOIOMMU_IOMMU"]
PROPERTIES = ["VFIO_DMA_CC_IOMMU", "VFIO_EEH", "VFIO_UNMAP_ALL", "VFIO_UPDATE_VADDR"]


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def vfio_header(release: str) -> str:
    src = release_source(release)
    main = dict(src.headers)["linux/vfio.h"]
    return Path(main).read_text()


def test_extensions_and_vendors_reach_the_spec_per_release() -> None:
    spec = release_spec("7.2")
    assert list(spec.extensions) == MODELS + PROPERTIES  # the overlay's order
    assert [x.name for x in spec.extensions.values() if x.kind == "iommu"] == MODELS
    eeh = spec.extensions["VFIO_EEH"]
    assert (eeh.value, eeh.drivers) == (5, ["spapr_tce"])
    assert (eeh.loc.file, eeh.loc.line) == (
        "headers/vfio.toml",
        line_of(SHIPPED, "[extensions.VFIO_EEH]"),
    )
    intel = spec.region_vendors["INTEL"]
    assert (intel.vendor, intel.subtypes[0]) == (0x8086, "VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION")
    header = vfio_header("7.2")
    assert intel.said is not None and intel.said.file == "linux/vfio.h"
    assert header.split("\n")[intel.said.line - 1] == "/* 8086 vendor PCI sub-types */"
    old = release_spec("4.19")  # before 5.12's UNMAP_ALL / UPDATE_VADDR and 5.0's NVLINK2
    assert "VFIO_UNMAP_ALL" not in old.extensions and "VFIO_TYPE1_NESTING_IOMMU" in old.extensions
    assert list(old.region_vendors) == ["INTEL"] and old.region_vendors["INTEL"].said is None
    assert "VFIO_TYPE1_NESTING_IOMMU" not in release_spec("6.13").extensions  # renamed reserved
    assert "extensions.VFIO_TYPE1_NESTING_IOMMU" in spec.coverage.not_applicable


def _block(header: str, start: str, stop: str) -> str:
    return header[header.index(start) : header.index(stop, header.index(start))]


@pytest.mark.parametrize("release", RELEASES)
def test_extensions_are_the_headers_extension_block(release: str) -> None:
    """Every public #define under the header's "/* Extensions */" is declared,
    and nothing else: the overlay misses no value a release adds."""
    block = _block(vfio_header(release), "/* Extensions */", "#define VFIO_TYPE\t")
    defined = re.findall(r"^#define\s+(VFIO_\w+)\s+(\d+)", block, re.M)
    spec = release_spec(release)
    assert {n: x.value for n, x in spec.extensions.items()} == {n: int(v) for n, v in defined}


@pytest.mark.parametrize("release", RELEASES)
def test_region_vendors_are_what_the_headers_comments_say(release: str) -> None:
    """The header's "XXXX vendor PCI sub-types" comments, each read with the
    family of the #define after it, are the spec's and vfio.abi's table (4.19
    says it of no family: the overlay gives INTEL there)."""
    header = vfio_header(release)
    said = {
        int(vendor, 16): family
        for vendor, family in re.findall(
            r"/\* ([0-9a-f]{4}) vendor PCI sub-types \*/\n(?:/\*.*?\*/\n)*"
            r"#define VFIO_REGION_SUBTYPE_([A-Z0-9]+)_",
            header,
            re.S,
        )
    }
    spec = release_spec(release)
    table = {v.vendor: v.family for v in spec.region_vendors.values()}
    assert table == (said or {0x8086: "INTEL"})
    assert all(v.said is not None for v in spec.region_vendors.values()) == bool(said)


@pytest.mark.parametrize("release", ["7.2", "4.19"])
def test_vfio_abi_carries_the_spec_tables(release: str, tmp_path: Path) -> None:
    """The emitted module, imported: its tables are the spec's (4.19: fewer)."""
    spec = release_spec(release)
    render.write_tree(render.render_tree(spec), tmp_path)
    code = (
        "import json, vfio.abi as a; print(json.dumps([a.CONTAINER_EXTENSIONS, a.IOMMU_MODELS,"
        " {str(k): v for k, v in a.REGION_VENDORS.items()}]))"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    extensions, models, vendors = json.loads(out.stdout)
    assert extensions == {n: x.value for n, x in spec.extensions.items()}
    assert models == [n for n, x in spec.extensions.items() if x.kind == "iommu"]
    assert vendors == {str(v.vendor): v.family for v in spec.region_vendors.values()}


# --- the kernel's answers -------------------------------------------------------


def kernel_tree() -> Path | None:
    """A kernel source tree of the hardware tier's build (7.2-full), if built."""
    found = sorted(
        (releases.cache_dir() / "rig" / "kbuild").glob("*/src-*/drivers/vfio/container.c")
    )
    return found[-1].parents[2] if found else None


def _function(text: str, name: str) -> str:
    m = re.search(rf"^\w[\w \t*]*\n?{name}\([^;{{]*\)\s*\{{", text, re.M)
    assert m is not None, name
    depth, i = 1, m.end()
    while depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[m.end() : i - 1]


def _switch(body: str, on: str) -> dict[str, str]:
    """case label -> the statements it runs (fall-through labels share them)."""
    start = body.index(f"switch ({on})")
    depth, i = 0, body.index("{", start)
    while True:
        depth += {"{": 1, "}": -1}.get(body[i], 0)
        i += 1
        if not depth:
            break
    text = re.sub(r"/\*.*?\*/", "", body[body.index("{", start) + 1 : i - 1], flags=re.S)
    parts = re.split(r"(case\s+\w+\s*:|default\s*:)", text)
    out: dict[str, str] = {}
    pending: list[str] = []
    for part in parts:
        label = re.fullmatch(r"case\s+(\w+)\s*:|default\s*:", part)
        if label:
            pending.append(label.group(1) or "default")
        elif part.strip():
            out.update(dict.fromkeys(pending, " ".join(part.split())))
            pending = []
    out.update(dict.fromkeys(pending, ""))
    return out


def kernel_facts(tree: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per driver: the values its check_extension may answer > 0, and the
    values its open (VFIO_SET_IOMMU) accepts."""

    def read(path: str, function: str) -> str:
        return _function((tree / path).read_text(), function)

    def answered(cases: dict[str, str]) -> set[str]:
        return {n for n, s in cases.items() if n != "default" and s != "return 0;"}

    type1 = "drivers/vfio/vfio_iommu_type1.c"
    tce = "drivers/vfio/vfio_iommu_spapr_tce.c"
    compat = "drivers/iommu/iommufd/vfio_compat.c"
    tce_ioctl = read(tce, "tce_iommu_ioctl")
    check = {
        "type1": answered(_switch(read(type1, "vfio_iommu_type1_check_extension"), "arg")),
        "spapr_tce": answered(_switch(tce_ioctl[tce_ioctl.index("VFIO_CHECK_EXTENSION") :], "arg")),
        "noiommu": set(
            re.findall(r"arg == (\w+)", read("drivers/vfio/container.c", "vfio_noiommu_ioctl"))
        ),
        "iommufd": answered(_switch(read(compat, "iommufd_vfio_check_extension"), "type")),
    }
    opened = {
        "type1": {
            n
            for n, s in _switch(read(type1, "vfio_iommu_type1_open"), "arg").items()
            if n != "default" and "ERR_PTR" not in s
        },
        "spapr_tce": set(re.findall(r"arg != (\w+)", read(tce, "tce_iommu_open"))),
        "noiommu": set(
            re.findall(r"arg != (\w+)", read("drivers/vfio/container.c", "vfio_noiommu_open"))
        ),
        "iommufd": set(re.findall(r"type [!=]= (\w+)", read(compat, "iommufd_vfio_set_iommu"))),
    }
    return check, opened


def test_extensions_are_what_the_kernel_answers() -> None:
    """Read from the kernel's own source (7.2): which drivers' check_extension
    answers each value, and which values their open takes (a model: set_iommu
    opens the driver that answered it). Every value a driver answers is declared."""
    tree = kernel_tree()
    if tree is None:
        pytest.skip("no kernel source: the hardware tier builds it (tests/hardware/kbuild.py)")
    check, opened = kernel_facts(tree)
    spec = release_spec("7.2")
    for name, x in spec.extensions.items():
        assert x.drivers == [d for d in check if name in check[d]], name
        is_model = any(name in check[d] and name in opened[d] for d in check)
        assert (x.kind == "iommu") == is_model, name
    assert set().union(*check.values()) == set(spec.extensions)


def test_the_kernel_reading_can_fail() -> None:
    """The parser sees a case that answers 0, and fall-through labels."""
    body = (
        "switch (arg) { case A: case B: return 1; case C: /* no */ return 0; default: return 0; }"
    )
    cases = _switch(body, "arg")
    assert cases == {"A": "return 1;", "B": "return 1;", "C": "return 0;", "default": "return 0;"}


# --- bad entries ------------------------------------------------------------------

EXT = '[extensions.VFIO_EEH]\nkind = "property"\ndrivers = ["spapr_tce"]\nsource = "x.c"\n'
VENDOR = '[region_vendors.INTEL]\nvendor = 0x8086\nsource = "x.c"\n'
REQ = '[requests.VFIO_DEVICE_RESET]\nfd = "device"\narg = "none"\nresult = "status"\n'

CASES = {
    "unknown-key": (EXT + 'colour = "red"\n', 'colour = "red"', "unknown key 'colour'"),
    "kind-missing": (EXT.replace('kind = "property"\n', ""), "[extensions", "needs 'kind'"),
    "kind-unknown": (
        EXT.replace('"property"', '"model"'),
        "kind = ",
        "kind = 'model'; expected one of iommu, property",
    ),
    "drivers-missing": (
        EXT.replace('drivers = ["spapr_tce"]\n', ""),
        "[extensions",
        "needs 'drivers'",
    ),
    "drivers-a-string": (
        EXT.replace('["spapr_tce"]', '"spapr_tce"'),
        "drivers = ",
        "drivers must be a list",
    ),
    "drivers-empty": (EXT.replace('["spapr_tce"]', "[]"), "drivers = ", "drivers must be a list"),
    "drivers-unknown": (
        EXT.replace('"spapr_tce"', '"amd"'),
        "drivers = ",
        "type1, spapr_tce, noiommu, iommufd",
    ),
    "drivers-twice": (EXT.replace('"spapr_tce"', '"type1", "type1"'), "drivers = ", "distinct"),
    "source-missing": (EXT.replace('source = "x.c"\n', ""), "[extensions", "needs 'source'"),
    "source-an-integer": (EXT.replace('"x.c"', "3"), "source = ", "source = 3; expected a string"),
    "not-a-constant": (
        EXT.replace("VFIO_EEH", "VFIO_TELEPORT"),
        "[extensions",
        "integer constant VFIO_TELEPORT does not exist",
    ),
    "a-removed-one-without-until": (
        EXT.replace("VFIO_EEH", "VFIO_TYPE1_NESTING_IOMMU"),
        "[extensions",
        "(add since/until if it is release-specific)",
    ),
    "same-value-twice": (  # VFIO_EEH_PE_STATE_UNAVAIL is 5 too
        EXT + EXT.replace("VFIO_EEH]", "VFIO_EEH_PE_STATE_UNAVAIL]"),
        "[extensions.VFIO_EEH_PE_STATE_UNAVAIL]",
        "extension VFIO_EEH_PE_STATE_UNAVAIL has the value of VFIO_EEH (5)",
    ),
    "gate-not-declared": (
        EXT + REQ + 'extension = "VFIO_TYPE1_IOMMU"\n',
        "[requests",
        "VFIO_TYPE1_IOMMU is not declared in [extensions]",
    ),
    "vendor-missing": (
        VENDOR.replace("vendor = 0x8086\n", ""),
        "[region_vendors",
        "vendor must be a PCI vendor ID",
    ),
    "vendor-a-string": (
        VENDOR.replace("0x8086", '"8086"'),
        "vendor = ",
        "vendor must be a PCI vendor ID (1..0xffff)",
    ),
    "vendor-too-wide": (VENDOR.replace("0x8086", "0x18086"), "vendor = ", "(1..0xffff)"),
    "vendor-a-bool": (
        VENDOR.replace("0x8086", "true"),
        "vendor = ",
        "vendor must be a PCI vendor ID",
    ),
    "vendor-unknown-key": (VENDOR + "subtypes = 1\n", "subtypes = ", "unknown key 'subtypes'"),
    "family-lower-case": (
        VENDOR.replace("INTEL", "intel"),
        "[region_vendors",
        "expected an upper-case family",
    ),
    "family-a-region-type": (
        VENDOR.replace("INTEL", "GFX"),
        "[region_vendors",
        "VFIO_REGION_TYPE_GFX",
    ),
    "family-without-subtypes": (
        VENDOR.replace("INTEL", "ACME"),
        "[region_vendors",
        "a constant VFIO_REGION_SUBTYPE_ACME_* does not exist",
    ),
    "vendor-not-the-headers": (
        VENDOR.replace("0x8086", "0x8087"),
        "vendor = ",
        "vendor = 0x8087, but linux/vfio.h:351 says '8086 vendor PCI sub-types' above VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION",
    ),
    "vendor-twice": (
        VENDOR + VENDOR.replace("INTEL", "IBM"),
        5,
        "vendor 0x8086 is INTEL's already",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_entry_is_one_positioned_error(case: str, tmp_path: Path) -> None:
    text, where, message = CASES[case]
    with pytest.raises(OverlayError) as err:
        compile_with(tmp_path, text)
    assert err.value.loc.line == (
        where if isinstance(where, int) else line_of(text, where)
    ), err.value
    assert message in err.value.message, err.value


def test_an_entry_a_release_lacks_is_skipped_when_since_says_so(tmp_path: Path) -> None:
    spec = compile_with(
        tmp_path, EXT + 'since = "99.0"\n' + VENDOR.replace("INTEL", "ACME") + 'until = "4.0"\n'
    )
    assert not spec.extensions and not spec.region_vendors
    assert spec.coverage.not_applicable == ["extensions.VFIO_EEH", "region_vendors.ACME"]


def test_a_bad_entry_on_the_command_line_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "vendor.toml"
    path.write_text(EXT.replace('"property"', '"model"'))
    assert build_with(path, tmp_path / "out") == [
        f"vfiogen: {path}:2: kind = 'model'; expected one of iommu, property"
    ]
