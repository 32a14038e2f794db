"""[records] selector/cases: the struct a user address holds, chosen by a
sibling member's value (iommu_hw_info.data_uptr by out_data_type). Bad
entries fail at their line; cases follow the releases' headers."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import release_spec
from test_overlay import compile_with

from vfiogen.errors import OverlayError

HW = '[records.iommu_hw_info.fields.data_uptr]\nkind = "user_address"\n'


@pytest.mark.parametrize(
    "text, line, message",
    [
        (
            HW
            + 'selector = "out_data_typ"\ncases = { IOMMU_HW_INFO_TYPE_INTEL_VTD = "iommu_hw_info_vtd" }\n',
            3,
            "selector = 'out_data_typ': expected another member of iommu_hw_info",
        ),
        (HW + 'selector = "out_data_type"\n', 1, "cases: expected a table"),
        (
            HW
            + 'selector = "out_data_type"\ncases = { IOMMU_HW_INFO_TYPE_INTEL_VTX = "iommu_hw_info_vtd" }\n',
            4,
            "constant IOMMU_HW_INFO_TYPE_INTEL_VTX does not exist",
        ),
        (
            HW
            + 'selector = "out_data_type"\ncases = { IOMMU_HW_INFO_TYPE_INTEL_VTD = "iommu_hw_info_vtx" }\n',
            4,
            "struct iommu_hw_info_vtx does not exist",
        ),
        (
            HW + 'selector = "out_data_type"\ncases = { IOMMU_HW_INFO_TYPE_INTEL_VTD = 1 }\n',
            4,
            "expected a struct tag",
        ),
        (
            HW + 'selector = "out_data_type"\n'
            'cases = { IOMMU_HW_INFO_TYPE_INTEL_VTD = { to = "iommu_hw_info_vtd", colour = "red" } }\n',
            4,
            "unknown key 'colour'",
        ),
        (
            "[records.iommu_hw_info.fields]\n"
            'data_len = { kind = "length", of = "data_uptr", selector = "out_data_type" }\n',
            2,
            "'selector' applies to kind = 'user_address' only",
        ),
    ],
)
def test_bad_pointee(tmp_path: Path, text: str, line: int, message: str) -> None:
    with pytest.raises(OverlayError) as err:
        compile_with(tmp_path, text)
    assert str(err.value.loc) == f"{tmp_path / 'o.toml'}:{line}"
    assert message in err.value.message


def test_a_case_the_release_lacks_is_dropped_when_since_says_so(tmp_path: Path) -> None:
    text = (
        HW + 'selector = "out_data_type"\n'
        'cases = { IOMMU_HW_INFO_TYPE_INTEL_VTD = "iommu_hw_info_vtd", '
        'IOMMU_HW_INFO_TYPE_FUTURE = { to = "iommu_hw_info_future", since = "9.0" } }\n'
    )
    spec = compile_with(tmp_path, text)
    field = next(f for f in spec.records["iommu_hw_info"].fields if f.name == "data_uptr")
    assert field.kind is not None and field.kind.selector == "out_data_type"
    assert field.kind.cases == {"IOMMU_HW_INFO_TYPE_INTEL_VTD": "iommu_hw_info_vtd"}


@pytest.mark.parametrize(
    "release, cases",
    [
        ("6.12", ["INTEL_VTD"]),
        ("6.13", ["INTEL_VTD", "ARM_SMMUV3"]),
        ("6.19", ["INTEL_VTD", "ARM_SMMUV3", "TEGRA241_CMDQV"]),
        ("7.2", ["INTEL_VTD", "ARM_SMMUV3", "TEGRA241_CMDQV", "AMD"]),
    ],
)
def test_shipped_hw_info_cases_follow_the_headers(release: str, cases: list[str]) -> None:
    spec = release_spec(release)
    field = next(f for f in spec.records["iommu_hw_info"].fields if f.name == "data_uptr")
    assert field.kind is not None
    assert sorted(field.kind.cases) == sorted(f"IOMMU_HW_INFO_TYPE_{c}" for c in cases)
    for name, tag in field.kind.cases.items():
        assert tag in spec.records and name in spec.constants


@pytest.mark.parametrize(
    "release, cases",
    [
        ("6.3", None),  # no HWPT_ALLOC yet: since = "6.7" explains the entry
        ("6.12", ["VTD_S1"]),
        ("6.19", ["VTD_S1", "ARM_SMMUV3"]),
        ("7.2", ["VTD_S1", "ARM_SMMUV3", "AMD_GUEST"]),
    ],
)
def test_shipped_hwpt_data_cases_follow_the_headers(release: str, cases: list[str] | None) -> None:
    spec = release_spec(release)
    if cases is None:
        assert "iommu_hwpt_alloc" not in spec.records
        return
    field = next(
        (f for f in spec.records["iommu_hwpt_alloc"].fields if f.name == "data_uptr"), None
    )
    assert field is not None and field.kind is not None and field.kind.selector == "data_type"
    assert sorted(field.kind.cases) == sorted(f"IOMMU_HWPT_DATA_{c}" for c in cases)
