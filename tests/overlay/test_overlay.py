"""The overlay is validated strictly against the header; coverage and
errata come out of the comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import RELEASES, release_source, release_spec
from vfiogen import pipeline as compiler
from vfiogen.errors import OverlayError


def compile_with(tmp_path: Path, text: str, release: str = "7.2"):
    path = tmp_path / "o.toml"
    path.write_text(text)
    return compiler.compile_spec(release_source(release), overlay_files={"x": path}, warn=False)


REQ = '[requests.VFIO_DEVICE_RESET]\nfd = "device"\narg = "none"\nresult = "status"\n'


@pytest.mark.parametrize(
    "text, line, message",
    [
        (REQ + 'colour = "red"\n', 5, "unknown key 'colour' in requests.VFIO_DEVICE_RESET"),
        (REQ.replace('"device"', '"socket"'), 2, "fd = 'socket'; expected one of container"),
        (
            '\n[requests.VFIO_NOPE]\nfd = "device"\narg = "none"\nresult = "status"\n',
            2,
            "request VFIO_NOPE does not exist in release 7.2",
        ),
        (
            '[requests.VFIO_DEVICE_GET_INFO]\nfd = "device"\narg = "struct"\ntype = "vfio_info"\nresult = "status"\n',
            4,
            "type 'vfio_info' is not a struct or union",
        ),
        (
            '[requests.VFIO_DEVICE_GET_INFO]\nfd = "device"\narg = "struct"\ntype = "vfio_device_info"\n'
            'result = "status"\n[requests.VFIO_DEVICE_GET_INFO.fields]\nargz = "in"\n',
            7,
            "field vfio_device_info.argz does not exist",
        ),
        (
            '[requests.VFIO_DEVICE_GET_INFO]\nfd = "device"\narg = "struct"\ntype = "vfio_device_info"\n'
            'result = "status"\nminsz = "nope"\n',
            6,
            "minsz names 'nope', not a field",
        ),
        (
            '[tails."vfio_irq_set.data"]\ncount = "cnt"\n',
            2,
            "count field 'cnt' is not in vfio_irq_set",
        ),
        ("[requests\n", 1, "not TOML"),
        (
            REQ + '\n[fd_kinds.device]\ntitle = "Device fd"\nopened = "x"\nexample = "..."\n'
            'phases = [{ title = "reset", requests = ["VFIO_DEVICE_RESTE"] }]\n',
            10,
            "phase 'reset' names 'VFIO_DEVICE_RESTE', not a request here",
        ),
        (
            '[fd_kinds.socket]\ntitle = "S"\nopened = "x"\nexample = "..."\n',
            1,
            "kind = 'socket'; expected one of container",
        ),
        ('[fd_kinds.device]\ntitle = "Device fd"\nopened = "x"\n', 1, "needs a string 'example'"),
    ],
)
def test_bad_overlay(tmp_path: Path, text: str, line: int, message: str) -> None:
    with pytest.raises(OverlayError) as err:
        compile_with(tmp_path, text)
    assert str(err.value.loc) == f"{tmp_path / 'o.toml'}:{line}"
    assert message in err.value.message


def test_versioned_entry_does_not_apply_to_older_release(tmp_path: Path) -> None:
    text = (
        '[requests.VFIO_FUTURE]\nfd = "device"\narg = "none"\nresult = "status"\nsince = "99.0"\n'
    )
    spec = compile_with(tmp_path, text)
    assert spec.coverage.not_applicable == ["requests.VFIO_FUTURE"]
    # but a since that claims the request already exists is a lie the header refutes
    text = text.replace('"99.0"', '"5.0"')
    with pytest.raises(OverlayError, match="request VFIO_FUTURE does not exist"):
        compile_with(tmp_path, text)


@pytest.mark.parametrize("release", RELEASES)
def test_shipped_overlays_cover_every_release(release: str) -> None:
    cov = release_spec(release).coverage
    assert cov.unannotated_requests == []
    assert cov.undirected_fields == []
    assert cov.untyped_tails == []
    assert cov.uncovered_capabilities == []


def test_newest_release_full_coverage() -> None:
    spec = release_spec("7.2")
    assert spec.coverage.requests == spec.coverage.annotated == 55
    for name, r in spec.requests.items():
        assert r.fd and r.arg and r.result, name
        if r.arg == "struct":
            assert r.arg_type in spec.records, name


def test_known_errata_are_found() -> None:
    errata = {(e.subject, e.kind): e for e in release_spec("7.2").errata}
    assert "vfio_iommu_info" in errata[("VFIO_IOMMU_GET_INFO", "struct-name")].claim
    assert "vfio_dma_map" in errata[("VFIO_IOMMU_MAP_DMA", "struct-name")].claim
    assert (
        "vfio_device_query_gfx_plane"
        in errata[("VFIO_DEVICE_QUERY_GFX_PLANE", "struct-name")].claim
    )
    assert "argsz is inout" in errata[("VFIO_DEVICE_GET_INFO", "direction")].truth
    assert ("struct iommu_iova_range", "prose") in errata
    assert ("VFIO_EEH_PE_OP", "missing-doc") in errata


def test_semantics_of_argument_and_result_kinds() -> None:
    r = release_spec("7.2").requests
    assert (r["VFIO_GROUP_SET_CONTAINER"].arg, r["VFIO_CHECK_EXTENSION"].arg) == (
        "int_ptr",
        "value",
    )
    assert (r["VFIO_GROUP_GET_DEVICE_FD"].arg, r["VFIO_GROUP_GET_DEVICE_FD"].result) == (
        "string",
        "fd",
    )
    assert r["VFIO_GET_API_VERSION"].result == "value"
    assert r["VFIO_DEVICE_GET_PCI_HOT_RESET_INFO"].argsz == "enospc"
    assert r["IOMMU_IOAS_IOVA_RANGES"].argsz == "emsgsize"
    assert r["VFIO_DEVICE_GET_REGION_INFO"].directions["index"] == "in"
    spec = release_spec("7.2")
    assert (
        spec.capabilities["VFIO_REGION_INFO_CAP_SPARSE_MMAP"].type
        == "vfio_region_info_cap_sparse_mmap"
    )
    assert spec.tails["vfio_irq_set.data"].selector == "flags"


def test_fd_kind_phases_reach_the_spec_in_call_order() -> None:
    device = release_spec("7.2").fd_kinds["device"]
    assert device.loc.file == "headers/vfio.toml"
    assert device.phases[0].requests == [
        "VFIO_DEVICE_BIND_IOMMUFD",
        "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
    ]
    # a release without the cdev requests keeps the phase, without them
    old = release_spec("4.19").fd_kinds["device"]
    assert old.phases[0].requests == []
    assert "VFIO_DEVICE_RESET" in old.phases[3].requests


GET_INFO = (
    '[requests.VFIO_DEVICE_GET_INFO]\nfd = "device"\narg = "struct"\n'
    'type = "vfio_device_info"\nresult = "status"\n[requests.VFIO_DEVICE_GET_INFO.fields]\n'
)


@pytest.mark.parametrize("direction", ["sideways", "IN", "", "read"])
def test_field_direction_must_be_one_of_in_out_inout(tmp_path: Path, direction: str) -> None:
    """Rule: a field's direction is in, out or inout (OVERLAY.md); anything
    else is refused at its line, in both spellings of a field entry."""
    for entry in (f'flags = "{direction}"\n', f'flags = {{ dir = "{direction}" }}\n'):
        with pytest.raises(OverlayError) as err:
            compile_with(tmp_path, GET_INFO + 'argsz = "inout"\n' + entry)
        assert str(err.value.loc) == f"{tmp_path / 'o.toml'}:8"
        assert err.value.message == f"direction '{direction}'; expected one of in, out, inout"


@pytest.mark.parametrize("direction", ["in", "out", "inout"])
def test_every_valid_direction_is_kept(tmp_path: Path, direction: str) -> None:
    spec = compile_with(tmp_path, GET_INFO + f'flags = "{direction}"\n')
    assert spec.requests["VFIO_DEVICE_GET_INFO"].directions == {"flags": direction}


def test_a_field_of_a_later_release_does_not_stop_the_next(tmp_path: Path) -> None:
    """Rule: a field the header lacks but `since` explains is not applicable
    here, and the fields after it still get their directions."""
    text = GET_INFO + 'future = { dir = "in", since = "99.0" }\nflags = "out"\n'
    spec = compile_with(tmp_path, text)
    assert spec.requests["VFIO_DEVICE_GET_INFO"].directions == {"flags": "out"}
    assert spec.coverage.not_applicable == ["requests.VFIO_DEVICE_GET_INFO.fields.future"]


def test_fields_without_a_direction_are_reported(tmp_path: Path) -> None:
    """Rule: every member of an annotated struct request has a direction;
    coverage lists each one that has none (and only those)."""
    spec = compile_with(tmp_path, GET_INFO + 'argsz = "inout"\nflags = "out"\n')
    assert spec.coverage.undirected_fields == [
        "VFIO_DEVICE_GET_INFO: num_regions",
        "VFIO_DEVICE_GET_INFO: num_irqs",
        "VFIO_DEVICE_GET_INFO: cap_offset",
        "VFIO_DEVICE_GET_INFO: pad",
    ]
    full = "".join(
        f'{f} = "out"\n' for f in ("flags", "num_regions", "num_irqs", "cap_offset", "pad")
    )
    spec = compile_with(tmp_path, GET_INFO + 'argsz = "inout"\n' + full)
    assert spec.coverage.undirected_fields == []


BUG = (
    '[requests.VFIO_DEVICE_IOEVENTFD]\nfd = "device"\narg = "struct"\n'
    'type = "vfio_device_ioeventfd"\nresult = "status"\n\n'
    '[kernel_bugs.x]\nrequest = "VFIO_DEVICE_IOEVENTFD"\npath = ["vfio_device_ioeventfd.offset"]\n'
    'mask = "0x8000000000000000"\nequals = 1\nfix = "0"\nwhat = "w"\nsource = "s"\n'
)


@pytest.mark.parametrize(
    "text, line, message",
    [
        (
            '[records.vfio_iommu_type1_dma_map.fields]\nvadr = { kind = "user_address" }\n',
            2,
            "field vfio_iommu_type1_dma_map.vadr does not exist",
        ),
        (
            '[records.vfio_iommu_type1_dma_map.fields]\nvaddr = { kind = "address" }\n',
            2,
            "kind = 'address'; expected one of user_address",
        ),
        (
            '[records.vfio_device_bind_iommufd.fields]\niommufd = { kind = "fd", fd = "iommu" }\n',
            2,
            "fd = 'iommu'; expected one of container",
        ),
        (
            '[records.vfio_iommu_type1_dma_map.fields]\nflags = { kind = "user_address" }\n',
            2,
            "is not a 64-bit integer",
        ),
        (
            '[records.vfio_iommu_type1_dma_map.fields]\nsize = { kind = "length", of = "sise" }\n',
            2,
            "'of' must name another member",
        ),
        (
            '[records.vfio_iommu_type1_dma_map.fields]\nvaddr = { kind = "fd", mapping = true }\n',
            2,
            "'mapping' applies to kind = 'user_address' only",
        ),
        (
            '[records.vfio_irq_set.fields]\ndata = { kind = "fd", when = "VFIO_IRQ_SET_DATA_BOOL" }\n',
            2,
            "is not a case of the tail vfio_irq_set.data",
        ),
        (BUG.replace("offset", "ofset"), 9, "vfio_device_ioeventfd.ofset is not a member"),
        (
            BUG.replace('"VFIO_DEVICE_IOEVENTFD"', '"VFIO_DEVICE_IOEVENTFX"'),
            8,
            "request VFIO_DEVICE_IOEVENTFX does not exist",
        ),
        (BUG + 'colour = "red"\n', 15, "unknown key 'colour' in kernel_bugs.x"),
        (BUG + "nonzero = true\n", 15, "when true equals is 0"),
        (BUG + 'iommu = "VFIO_TYPE9_IOMMU"\n', 7, "VFIO_TYPE9_IOMMU is not a constant"),
        (
            BUG + 'iommu = "VFIO_EEH"\n\n[extensions.VFIO_EEH]\nkind = "property"\n'
            'drivers = ["spapr_tce"]\nsource = "s"\n',
            7,
            "iommu VFIO_EEH is not an IOMMU model of [extensions]",
        ),
        (BUG.replace('"0x8', '"0y8'), 10, "mask = '0y8000000000000000'; expected an integer"),
        (REQ + 'arg_fd = "container"\n', 5, "arg_fd needs arg = 'int_ptr'"),
        (
            REQ + '\n[kernel_bugs.y]\nrequest = "VFIO_DEVICE_RESET"\npath = ["x.y"]\nmask = 1\n'
            'equals = 1\nfix = "0"\nwhat = "w"\nsource = "s"\n',
            7,
            "takes no struct argument",
        ),
    ],
)
def test_bad_field_kind_or_kernel_bug(tmp_path: Path, text: str, line: int, message: str) -> None:
    with pytest.raises(OverlayError) as err:
        compile_with(tmp_path, text)
    assert str(err.value.loc) == f"{tmp_path / 'o.toml'}:{line}"
    assert message in err.value.message


def test_field_kinds_and_kernel_bugs_reach_the_spec() -> None:
    spec = release_spec("7.2")
    vaddr = next(f for f in spec.records["vfio_iommu_type1_dma_map"].fields if f.name == "vaddr")
    assert vaddr.kind is not None and (vaddr.kind.kind, vaddr.kind.mapping) == (
        "user_address",
        True,
    )
    assert vaddr.kind.loc.file == "headers/vfio.toml"
    assert spec.requests["VFIO_GROUP_SET_CONTAINER"].arg_fd == "container"
    assert list(spec.kernel_bugs) == [
        "unmap-dma-pgsize-0",
        "ioeventfd-negative-bar",
        "dirty-pages-pgsize-0",
        "tce-create-page-shift",
        "register-memory-size-0",
    ]
    assert spec.kernel_bugs["unmap-dma-pgsize-0"].mask == (1 << 64) - 1
    shift = spec.kernel_bugs["tce-create-page-shift"]
    assert (shift.nonzero, shift.iommu) == (True, "VFIO_SPAPR_TCE_v2_IOMMU")
    old = release_spec("4.19")  # no dirty tracking yet: since = "5.8" explains it
    assert sorted(old.kernel_bugs) == [  # the sPAPR requests are older (4.2)
        "ioeventfd-negative-bar",
        "register-memory-size-0",
        "tce-create-page-shift",
    ]
    assert "kernel_bugs.unmap-dma-pgsize-0.request" in old.coverage.not_applicable


RESET = '[requests.VFIO_DEVICE_RESET]\nfd = "device"\narg = "none"\nresult = "status"\n'


@pytest.mark.parametrize(
    "text, line, message",
    [
        (
            '[requests.VFIO_CHECK_EXTENSION]\nfd = "container"\narg = "value"\n'
            'type = "vfio_device_info"\nresult = "value"\n',
            4,
            "request VFIO_CHECK_EXTENSION: 'vfio_device_info' is not a C integer type",
        ),
        (
            RESET + 'caps = "nowhere"\n',
            5,
            "request VFIO_DEVICE_RESET: caps scope 'nowhere' is not declared",
        ),
        (
            RESET + 'extension = "VFIO_NOPE"\n',
            5,
            "request VFIO_DEVICE_RESET: extension VFIO_NOPE is not a constant of the header",
        ),
        ('[requests.VFIO_DEVICE_RESET]\nfd = "device"\nresult = "status"\n', 1, "needs 'arg'"),
        ('[requests.VFIO_DEVICE_RESET]\narg = "none"\nresult = "status"\n', 1, "needs 'fd'"),
        ('[requests.VFIO_DEVICE_RESET]\nfd = "device"\narg = "none"\n', 1, "needs 'result'"),
    ],
)
def test_bad_request_entry_is_refused_at_its_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    """Each refusal points at the key that is wrong (its line), or at the
    entry's table when a key is missing."""
    with pytest.raises(OverlayError) as err:
        compile_with(tmp_path, text)
    assert str(err.value.loc) == f"{tmp_path / 'o.toml'}:{line}"
    assert message in err.value.message


def test_flag_gates_apply_or_are_not_applicable(tmp_path: Path) -> None:
    text = RESET + (
        "[requests.VFIO_DEVICE_RESET.flag_gates]\n"
        'VFIO_DMA_UNMAP_FLAG_ALL = "VFIO_UNMAP_ALL"\nVFIO_NOPE = "VFIO_UNMAP_ALL"\n'
    )
    spec = compile_with(tmp_path, text)
    assert spec.requests["VFIO_DEVICE_RESET"].flag_gates == {
        "VFIO_DMA_UNMAP_FLAG_ALL": "VFIO_UNMAP_ALL"
    }
    assert spec.coverage.not_applicable == ["requests.VFIO_DEVICE_RESET.flag_gates.VFIO_NOPE"]


def test_coverage_without_capability_and_tail_entries(tmp_path: Path) -> None:
    """With no [capabilities] and no [tails], the coverage names what the
    header has (read from linux/vfio.h by hand): capability ids defined as
    macros, and flexible arrays; never a _VERSION/_MASK macro, never a sized
    array."""
    spec = compile_with(tmp_path, REQ)
    cov = spec.coverage
    assert {"VFIO_REGION_INFO_CAP_SPARSE_MMAP", "VFIO_REGION_INFO_CAP_TYPE"} <= set(
        cov.uncovered_capabilities
    )
    assert not any(n.endswith(("_VERSION", "_MASK")) for n in cov.uncovered_capabilities)
    assert {"vfio_region_info_cap_sparse_mmap.areas", "vfio_irq_set.data"} <= set(cov.untyped_tails)
    assert not any(t.startswith("vfio_device_info.") for t in cov.untyped_tails)
    assert "vfio_iommu_type1_info_dma_avail.avail" not in cov.untyped_tails  # a plain __u32
    assert cov.unannotated_requests and "VFIO_DEVICE_RESET" not in cov.unannotated_requests
    assert (cov.requests, cov.annotated) == (len(spec.requests), 1)
