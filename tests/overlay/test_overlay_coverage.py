"""Coverage (overlay/coverage.py) names exactly what the overlay leaves
unannotated: the lists are compared whole with what linux/vfio.h defines
(line numbers of Linux 7.2's header, read by hand), not as subsets."""

from __future__ import annotations

from pathlib import Path

from support import release_source
from vfiogen import pipeline
from vfiogen.inputs import sources

RESET = '[requests.VFIO_DEVICE_RESET]\nfd = "device"\narg = "none"\nresult = "status"\n'


def coverage_with(tmp_path: Path, text: str):
    path = tmp_path / "o.toml"
    path.write_text(text)
    spec = pipeline.compile_spec(release_source("7.2"), overlay_files={"x": path}, warn=False)
    return spec.coverage


def test_uncovered_capabilities_are_exactly_the_cap_id_macros(tmp_path: Path) -> None:
    """Rule: with no [capabilities], every capability id of the header is
    uncovered: the `#define ..._CAP_NAME <n>` macros of linux/vfio.h (7.2:
    lines 241-250, 295-492, 1565-1593), and nothing else: not iommufd's
    IOMMU_HW_CAP_* (enumerators: hw_info flag bits, not chain ids), not a
    _VERSION or _MASK macro."""
    cov = coverage_with(tmp_path, RESET)
    assert sorted(cov.uncovered_capabilities) == [
        "VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP",  # vfio.h:250
        "VFIO_DEVICE_INFO_CAP_ZPCI_BASE",  # 241
        "VFIO_DEVICE_INFO_CAP_ZPCI_GROUP",  # 242
        "VFIO_DEVICE_INFO_CAP_ZPCI_PFIP",  # 244
        "VFIO_DEVICE_INFO_CAP_ZPCI_UTIL",  # 243
        "VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE",  # 1565
        "VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION",  # 1593
        "VFIO_REGION_INFO_CAP_MSIX_MAPPABLE",  # 467
        "VFIO_REGION_INFO_CAP_NVLINK2_LNKSPD",  # 492
        "VFIO_REGION_INFO_CAP_NVLINK2_SSATGT",  # 476
        "VFIO_REGION_INFO_CAP_SPARSE_MMAP",  # 295
        "VFIO_REGION_INFO_CAP_TYPE",  # 329
    ]


def test_untyped_tails_are_exactly_the_flexible_arrays(tmp_path: Path) -> None:
    """Rule: with no [tails], every flexible array member of the header is
    an untyped tail (linux/vfio.h 7.2: lines 306, 597, 748, 781, 900, 1524,
    1576, 1688, 1740); no sized array."""
    cov = coverage_with(tmp_path, RESET)
    assert sorted(cov.untyped_tails) == [
        "vfio_device_feature.data",  # 900
        "vfio_device_feature_dma_buf.dma_ranges",  # 1524
        "vfio_iommu_type1_dirty_bitmap.data",  # 1740
        "vfio_iommu_type1_dma_unmap.data",  # 1688
        "vfio_iommu_type1_info_cap_iova_range.iova_ranges",  # 1576
        "vfio_irq_set.data",  # 597
        "vfio_pci_hot_reset.group_fds",  # 781
        "vfio_pci_hot_reset_info.devices",  # 748
        "vfio_region_info_cap_sparse_mmap.areas",  # 306
    ]


def test_undirected_fields_are_the_members_without_a_direction(tmp_path: Path) -> None:
    """Rule: each member of an annotated struct request's argument that has
    no direction is listed, in the header's order (struct
    vfio_iommu_type1_dma_map, linux/vfio.h 7.2 lines 1633-1642), and only
    those."""
    text = (
        '[requests.VFIO_IOMMU_MAP_DMA]\nfd = "container"\narg = "struct"\n'
        'type = "vfio_iommu_type1_dma_map"\nresult = "status"\n'
        '[requests.VFIO_IOMMU_MAP_DMA.fields]\nargsz = "in"\nflags = "in"\n'
    )
    assert coverage_with(tmp_path, text).undirected_fields == [
        "VFIO_IOMMU_MAP_DMA: vaddr",
        "VFIO_IOMMU_MAP_DMA: iova",
        "VFIO_IOMMU_MAP_DMA: size",
    ]


def test_annotated_struct_requests_only_have_undirected_fields(tmp_path: Path) -> None:
    """Rule: undirected fields are those of annotated struct requests; an
    unannotated request (typed from its _IO* macro) and a request without a
    struct argument have none."""
    assert coverage_with(tmp_path, RESET).undirected_fields == []


def test_zero_length_array_is_a_tail_and_a_sized_array_is_not(tmp_path: Path) -> None:
    """Rule: `T name[0]` (the GNU zero-length array older headers used) is a
    flexible tail like `T name[]`; `T name[1]` is a sized array."""
    (tmp_path / "tails.h").write_text(
        "struct zero {\n\tunsigned int n;\n\tunsigned char data[0];\n};\n"
        "struct flex {\n\tunsigned int n;\n\tunsigned char data[];\n};\n"
        "struct one {\n\tunsigned int n;\n\tunsigned char data[1];\n};\n"
    )
    src = sources.from_header(tmp_path / "tails.h", [tmp_path])
    spec = pipeline.compile_spec(src, ("x86_64",), overlay_files={}, warn=False)
    assert spec.coverage.untyped_tails == ["zero.data", "flex.data"]


def test_a_typed_tail_is_no_longer_listed(tmp_path: Path) -> None:
    """Rule: a flexible array that [tails] types leaves the list; the others stay."""
    cov = coverage_with(
        tmp_path, RESET + '[tails."vfio_region_info_cap_sparse_mmap.areas"]\ncount = "nr_areas"\n'
    )
    assert "vfio_region_info_cap_sparse_mmap.areas" not in cov.untyped_tails
    assert len(cov.untyped_tails) == 8


def test_an_unannotated_request_has_no_undirected_fields(tmp_path: Path) -> None:
    """Rule: directions are asked of annotated requests only. A vendor's
    request with a struct in its _IOW macro is typed from the macro (arg =
    struct) and reported as unannotated, not field by field."""
    (tmp_path / "vendor.h").write_text(
        "#include <linux/ioctl.h>\n"
        "struct vendor_arg {\n\tunsigned int argsz;\n\tunsigned int flags;\n};\n"
        "#define VENDOR_SET _IOW('x', 1, struct vendor_arg)\n"
    )
    generic = release_source("7.2").headers[0][1].parent.parent  # the 7.2 UAPI tree
    src = sources.from_header(tmp_path / "vendor.h", [tmp_path, generic])
    spec = pipeline.compile_spec(src, ("x86_64",), overlay_files={}, warn=False)
    req = spec.requests["VENDOR_SET"]
    assert (req.annotated, req.arg, req.arg_type) == (False, "struct", "vendor_arg")
    assert spec.coverage.unannotated_requests == ["VENDOR_SET"]
    assert spec.coverage.undirected_fields == []
