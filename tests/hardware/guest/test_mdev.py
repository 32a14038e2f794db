"""Mediated devices of the kernel's samples, through the VFIO cdev: mtty's
migration v2 round trip (PRE_COPY, STOP_COPY, RESUMING, the data fd), and
mbochs's GFX plane with a dma-buf. Skipped on kernels without the samples,
failed on the -full flavor."""

from __future__ import annotations

import ctypes
import errno
import os

import mdev
import pytest
from vfio import _inspect, abi, api
from vfio import requests as rq
from vfio.errors import VfioError

PROOF_MODE = "cdev"  # guest/proof.py
UART_TX = UART_RX = 0  # mtty's 16550 registers in BAR0 (DLAB clear)
S = abi.VfioDeviceMigState  # members without the VFIO_DEVICE_STATE_ prefix
# mbochs: the bochs dispi registers in the MMIO BAR (BAR2) at 0x500 + 2 * index
VBE_DISPI, VBE_XRES, VBE_YRES, VBE_BPP, VBE_ENABLE = 0x500, 1, 2, 3, 4
DRM_FORMAT_XRGB8888 = int.from_bytes(b"XR24", "little")


def test_mtty_migration_round_trip() -> None:
    """Bytes written to the source's serial port come out of the target's
    after RUNNING -> PRE_COPY -> STOP_COPY -> STOP on the source and
    STOP -> RESUMING -> RUNNING on the target with the saved stream."""
    message = b"vfiogen"
    before = set(os.listdir("/proc/self/fd"))
    with mdev.created("mtty-1") as src_path, mdev.created("mtty-1") as dst_path:
        with mdev.opened(src_path) as src, mdev.opened(dst_path) as dst:
            flags = src.migration_flags()
            wanted = (
                abi.VFIO_MIGRATION_STOP_COPY | abi.VFIO_MIGRATION_P2P | abi.VFIO_MIGRATION_PRE_COPY
            )
            assert flags == wanted, flags
            assert src.get_mig_state() == S.RUNNING
            for byte in message:
                src.write(abi.VFIO_PCI_BAR0_REGION_INDEX, UART_TX, bytes([byte]))
            data = src.set_mig_state(S.PRE_COPY)
            assert isinstance(data, api.MigrationData)
            with data:
                info = api.precopy_info(data)
                assert info.initial_bytes > 0 and info.dirty_bytes == 0
                stream = data.read_all()
                assert len(stream) == info.initial_bytes
                assert api.precopy_info(data) == api.PrecopyInfo(0, 0)
                assert src.set_mig_state(S.STOP_COPY) is None  # same fd
                with pytest.raises(VfioError) as err:  # PRE_COPY only
                    api.precopy_info(data)
                assert err.value.errno == errno.EINVAL
                stream += data.read_all()
                assert data.read() == b""  # the end of the stream
            assert data.closed
            assert src.set_mig_state(S.STOP) is None
            assert dst.set_mig_state(S.STOP) is None
            resume = dst.set_mig_state(S.RESUMING)
            assert resume is not None
            with resume:
                resume.write_all(stream)
            assert dst.set_mig_state(S.RUNNING) is None
            assert dst.get_mig_state() == S.RUNNING
            got = b"".join(dst.read(abi.VFIO_PCI_BAR0_REGION_INDEX, UART_RX, 1) for _ in message)
            assert got == message
            src.reset()  # VFIO_DEVICE_RESET puts mtty back to RUNNING
            assert src.get_mig_state() == S.RUNNING
    assert set(os.listdir("/proc/self/fd")) == before, "file descriptors leaked"


def raw_set_state(dev: api.Device, state: int) -> int:
    """SET MIG_DEVICE_STATE through vfio.requests, unchecked: the errno the
    kernel answers (0: it moved; a data fd it returned is closed)."""
    head = ctypes.sizeof(abi.vfio_device_feature)
    buf = bytearray(head + ctypes.sizeof(abi.vfio_device_feature_mig_state))
    f = abi.vfio_device_feature.from_buffer(buf)
    f.argsz = len(buf)
    f.flags = abi.VFIO_DEVICE_FEATURE_SET | abi.VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE
    st = abi.vfio_device_feature_mig_state.from_buffer(buf, head)
    st.device_state, st.data_fd = state, -1
    del f, st
    try:
        rq.vfio_device_feature(dev.fd, buf)
    except VfioError as exc:
        return exc.errno
    data_fd = int(abi.vfio_device_feature_mig_state.from_buffer(buf, head).data_fd)
    if data_fd >= 0:
        os.close(data_fd)
    return 0


def check_refused_both_ways(dev: api.Device, target: int, reason: str) -> None:
    """vfio.api refuses the arc before the kernel, and the kernel, asked
    the same raw, answers the errno the overlay's state machine names."""
    current = dev.get_mig_state()
    with pytest.raises(api.MigrationArcError, match=reason) as err:
        dev.set_mig_state(target)
    assert (err.value.current, err.value.target) == (current, target)
    assert dev.get_mig_state() == current  # nothing reached the kernel
    got = raw_set_state(dev, target)
    assert errno.errorcode.get(got) == err.value.kernel_errno, (current, target, got)
    assert dev.get_mig_state() == current


def test_mtty_forbidden_arcs_are_refused_locally_and_by_the_kernel() -> None:
    """Every target and arc mtty's FSM refuses (it has every migration flag):
    ERROR, VFIO_DEVICE_STATE_NR and a value that is no state from RUNNING,
    STOP_COPY -> PRE_COPY and -> PRE_COPY_P2P; the allowed arcs between pass."""
    before = set(os.listdir("/proc/self/fd"))
    with mdev.created("mtty-1") as path, mdev.opened(path) as dev:
        assert dev.mig_states() == [
            S.STOP,
            S.RUNNING,
            S.STOP_COPY,
            S.RESUMING,
            S.RUNNING_P2P,
            S.PRE_COPY,
            S.PRE_COPY_P2P,
        ]
        assert dev.get_mig_state() == S.RUNNING
        check_refused_both_ways(dev, S.ERROR, "ERROR is never a target")
        check_refused_both_ways(dev, S.NR, "not a migration state")
        check_refused_both_ways(dev, 99, "not a migration state")
        assert dev.mig_path(S.STOP_COPY) == [S.RUNNING_P2P, S.STOP, S.STOP_COPY]
        data = dev.set_mig_state(S.STOP_COPY)
        assert data is not None and data.fileno() >= 0
        del data  # garbage collection closes it (the fd check below says so)
        assert dev.get_mig_state() == S.STOP_COPY
        check_refused_both_ways(dev, S.PRE_COPY, "forbids this arc")
        check_refused_both_ways(dev, S.PRE_COPY_P2P, "forbids this arc")
        assert dev.set_mig_state(S.STOP) is None  # what STOP_COPY may do
        dev.reset()
        assert dev.get_mig_state() == S.RUNNING
    assert set(os.listdir("/proc/self/fd")) == before, "file descriptors leaked"


def vbe_write(dev: api.Device, index: int, value: int) -> None:
    dev.write(abi.VFIO_PCI_BAR2_REGION_INDEX, VBE_DISPI + 2 * index, value.to_bytes(2, "little"))


def test_mbochs_plane_and_dmabuf() -> None:
    """mbochs offers DMABUF planes, not REGION ones; once a 640x480x32 mode
    is set in its dispi registers, the primary plane has a dma-buf id, and
    Device.gfx_dmabuf gives an object owning a dma-buf of the plane's size."""
    before = set(os.listdir("/proc/self/fd"))
    with mdev.created("mbochs-small") as path, mdev.opened(path) as dev:
        assert dev.supports_gfx(abi.VFIO_GFX_PLANE_TYPE_DMABUF)
        assert not dev.supports_gfx(abi.VFIO_GFX_PLANE_TYPE_REGION)
        assert dev.gfx_plane().dmabuf_id == 0  # no mode yet
        with pytest.raises(ValueError):  # refused before the kernel
            dev.gfx_dmabuf(0)
        for index, value in ((VBE_XRES, 640), (VBE_YRES, 480), (VBE_BPP, 32), (VBE_ENABLE, 1)):
            vbe_write(dev, index, value)
        try:
            plane = dev.gfx_plane()
        except VfioError as exc:  # mbochs 7.2 returns ENOMEM once while it creates the buffer
            assert exc.errno == errno.ENOMEM
            plane = dev.gfx_plane()
        assert (plane.width, plane.height, plane.stride) == (640, 480, 640 * 4)
        assert plane.drm_format == DRM_FORMAT_XRGB8888 and plane.dmabuf_id > 0
        with dev.gfx_dmabuf(plane.dmabuf_id) as dmabuf:
            # mbochs exports it read-only and maps only VM_SHARED: no mmap to check
            assert os.fstat(dmabuf.fd).st_size == plane.size
            assert "dmabuf" in os.readlink(f"/proc/self/fd/{dmabuf.fd}")
        assert dmabuf.closed
        with pytest.raises(VfioError) as err:  # no such buffer
            dev.gfx_dmabuf(plane.dmabuf_id + 100)
        assert err.value.errno == errno.ENOENT
    assert set(os.listdir("/proc/self/fd")) == before, "file descriptors leaked"


def test_mbochs_edid_region_type_is_named() -> None:
    """mbochs' EDID region (the one past the PCI regions) carries
    VFIO_REGION_INFO_CAP_TYPE: RegionInfo.type names it GFX / GFX_EDID and
    still equals the (type, subtype) tuple, and `info --json` shows both the
    numbers and the names; RegionInfo and IrqInfo unpack."""
    with mdev.created("mbochs-small") as path, mdev.opened(path) as dev:
        typed = [r for r in dev.regions() if r.type is not None]
        assert [r.index for r in typed] == [abi.VFIO_PCI_NUM_REGIONS], typed
        kind = typed[0].type
        assert kind == (abi.VFIO_REGION_TYPE_GFX, abi.VFIO_REGION_SUBTYPE_GFX_EDID)
        assert (kind.type_name, kind.subtype_name, kind.vendor) == (
            "VFIO_REGION_TYPE_GFX",
            "VFIO_REGION_SUBTYPE_GFX_EDID",
            None,
        )
        shown = {r["index"]: r for r in _inspect.device_report(dev)["regions"]}  # `info --json`
        assert shown[abi.VFIO_PCI_NUM_REGIONS]["type"] == {
            "type": abi.VFIO_REGION_TYPE_GFX,
            "subtype": abi.VFIO_REGION_SUBTYPE_GFX_EDID,
            "type_name": "VFIO_REGION_TYPE_GFX",
            "subtype_name": "VFIO_REGION_SUBTYPE_GFX_EDID",
        }
        assert shown[abi.VFIO_PCI_NUM_REGIONS]["name"] is None  # device-specific: no PCI name
        assert shown[abi.VFIO_PCI_BAR0_REGION_INDEX]["type"] is None
        index, flags, size, offset, capabilities = typed[0]
        assert index == abi.VFIO_PCI_NUM_REGIONS and size > 0 and capabilities
        assert repr(typed[0]).startswith(f"RegionInfo(index={index}, flags=")
        irq_index, _, count = dev.irq_info(abi.VFIO_PCI_INTX_IRQ_INDEX)
        assert irq_index == abi.VFIO_PCI_INTX_IRQ_INDEX and count in (0, 1)
