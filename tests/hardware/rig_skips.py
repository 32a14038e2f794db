"""The guest tests each flavor is expected to skip, and why.

A skipped guest test is not a pass: test_rig.py fails a boot whose skips
differ from its flavor's table here, so a test that starts skipping (a
fixture that no longer finds its device, a probe that broke) fails the tier,
and so does an expected skip that no longer happens (the kernel gained the
feature: drop the entry so the test counts). Each entry maps a guest test id
(file::name[param]) to a part of the skip's reason, which must match too.
"""

from __future__ import annotations

NO_MOCK_IOMMU = "no mock IOMMU (/sys/class/iommu/iommufd_selftest_iommu.0: CONFIG_IOMMUFD_TEST)"
NO_IOMMUFD_NOR_CDEV = "has no /dev/iommu (CONFIG_IOMMUFD) and no edu's VFIO cdev"
NO_SRIOV_NVME = "no SR-IOV nvme on this machine"
NO_UBSAN = "this kernel has no __ubsan_handle_shift_out_of_bounds"
NO_KASAN = "this kernel has no kasan_report"
NO_DEV_IOMMU = "no /dev/iommu: the kernel needs CONFIG_IOMMUFD"
NO_TYPE1 = "no VFIO_TYPE1v2_IOMMU container IOMMU on this kernel"
NO_SPAPR = "no VFIO_SPAPR_TCE_v2_IOMMU container IOMMU on this kernel"

# What the Debian kernels (6.1, 7.2) lack against the self-built 7.2-full:
# iommufd and its selftest mock, the VFIO cdev, the mdev samples, the
# no-IOMMU edu and the SR-IOV nvme (machine devices only 7.2-full has).
DEBIAN: dict[str, str] = {
    **{
        f"test_iommufd_mock.py::{name}": NO_MOCK_IOMMU
        for name in (
            "test_get_hw_info_of_the_mock_device",
            "test_options_global_and_per_ioas",
            "test_vfio_ioas_get_set_clear",
            "test_allow_iovas_copy_and_map_file",
            "test_change_process_here_and_in_a_forked_child",
            "test_dirty_tracking_bit_by_bit",
            "test_nested_hwpt_and_invalidate",
            "test_viommu_vdevice_fault_queue_and_veventq",
        )
    },
    **{
        f"test_mdev.py::{name}": "no mdev type mtty-1 (CONFIG_SAMPLE_VFIO_MDEV_*)"
        for name in (
            "test_mtty_migration_round_trip",
            "test_mtty_forbidden_arcs_are_refused_locally_and_by_the_kernel",
        )
    },
    **{
        f"test_mdev.py::{name}": "no mdev type mbochs-small (CONFIG_SAMPLE_VFIO_MDEV_*)"
        for name in ("test_mbochs_plane_and_dmabuf", "test_mbochs_edid_region_type_is_named")
    },
    **{
        f"test_mode_matrix.py::{test}[{mode}]": f"IOMMU mode '{mode}': {NO_DEV_IOMMU}"
        for test in ("test_dma_and_interrupts", "test_dma_from_huge_pages")
        for mode in ("iommufd_compat_type1", "iommufd_compat_type1v2", "iommufd")
    },
    "test_interrupts.py::test_interrupts_routes_msix_vectors_at_once": (
        "no nvme on vfio-pci on this machine"
    ),
    "test_mode_matrix.py::test_noiommu_config_and_bar": "no edu in no-IOMMU mode on this flavor",
    "test_docs_examples.py::test_page_runs[cookbook/iommufd.md]": "cookbook/iommufd.md needs cdev",
    "test_docs_examples.py::test_page_runs[cookbook/migration.md]": "cookbook/migration.md needs mtty",
    "test_hints.py::test_noiommu_needs_the_opt_in": "no edu in no-IOMMU mode on this flavor",
    "test_hints.py::test_second_cdev_bind_is_explained": "no iommufd or no VFIO cdev on this flavor",
    **{
        f"test_pci_reset_sriov.py::{name}": NO_SRIOV_NVME
        for name in (
            "test_flr_and_cdev_hot_reset",
            "test_group_hot_reset",
            "test_vf_token_refused_then_accepted",
        )
    },
    **{
        f"test_vfio_iommufd.py::{name}": NO_IOMMUFD_NOR_CDEV
        for name in (
            "test_nodes_match_sysfs",
            "test_bind_alloc_attach_detach",
            "test_hw_info_of_the_intel_iommu",
            "test_ioas_close_can_be_retried_after_ebusy",
            "test_attach_to_a_paging_hwpt_and_dma_through_it",
            "test_device_info_and_regions",
            "test_edu_registers_through_mmap_and_pread",
            "test_dma_round_trip",
            "test_dma_at_an_iova_the_kernel_chooses",
            "test_dma_from_a_read_only_mapping",
            "test_dma_errors",
            "test_msi_and_intx_interrupts",
            "test_errors_are_clean_and_the_process_goes_on",
        )
    },
}

# The known kernel bugs (headers/vfio.toml [kernel_bugs]) reproduce where the
# kernel has their detector and their IOMMU driver and they are not fixed:
# 7.2 (Debian) has UBSAN and 7.2 fixed ioeventfd-negative-bar, so the x86
# ones run there; 7.2-full and 6.1 are built without UBSAN and KASAN. The
# sPAPR TCE ones run on 7.2-ppc64 only, the type1 ones everywhere else.
BUG = "test_fuzz_kernel.py::test_known_kernel_bug_reproduces"
PGSIZE_BUGS_UNDETECTED: dict[str, str] = {
    f"{BUG}[unmap-dma-pgsize-0]": NO_UBSAN,
    f"{BUG}[dirty-pages-pgsize-0]": NO_UBSAN,
}
SPAPR_BUGS: dict[str, str] = {
    f"{BUG}[tce-create-page-shift]": NO_SPAPR,
    f"{BUG}[register-memory-size-0]": NO_SPAPR,
}

EXPECTED_SKIPS: dict[str, dict[str, str]] = {
    "7.2": {**DEBIAN, **SPAPR_BUGS},
    "7.2-full": {**PGSIZE_BUGS_UNDETECTED, **SPAPR_BUGS},
    "6.1": {
        **DEBIAN,
        **PGSIZE_BUGS_UNDETECTED,
        **SPAPR_BUGS,
        f"{BUG}[ioeventfd-negative-bar]": NO_KASAN,
    },
    # runs test_spapr.py (no skip) and test_fuzz_kernel.py (rig_kernels.FLAVORS)
    "7.2-ppc64": {
        f"{BUG}[unmap-dma-pgsize-0]": NO_TYPE1,
        f"{BUG}[dirty-pages-pgsize-0]": NO_TYPE1,
    },
}


def unexpected_skips(flavor: str, skips: dict[str, str]) -> list[str]:
    """What differs between a boot's skips ({test id: reason}) and the
    flavor's table: skips not in it or for another reason, and expected
    skips that did not happen. Empty when they agree."""
    expected = EXPECTED_SKIPS.get(flavor)
    if expected is None:
        return [f"flavor {flavor} has no table of expected skips in rig_skips.py"]
    problems = []
    for test, reason in sorted(skips.items()):
        want = expected.get(test)
        if want is None:
            problems.append(f"unexpected skip: {test}: {reason}")
        elif want not in reason:
            problems.append(f"{test} skipped for another reason: {reason!r}, expected {want!r}")
    problems += [
        f"expected skip did not happen (drop it from rig_skips.py): {test}"
        for test in sorted(expected.keys() - skips.keys())
    ]
    return problems
