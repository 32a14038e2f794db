"""What the host must have to boot a guest: a QEMU binary with given devices."""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

from rig_errors import MissingPart


@lru_cache(maxsize=None)
def qemu_with(binary: str, devices: tuple[str, ...]) -> str:
    """The path of `binary` (qemu-system-*), checked to offer every device of
    `devices` (names as `-device help` quotes them); MissingPart otherwise."""
    qemu = shutil.which(binary)
    if qemu is None:
        raise MissingPart(f"{binary} not found (run tests/hardware/install-deps.sh)")
    try:
        offered = subprocess.run(
            [qemu, "-device", "help"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingPart(f"{qemu} does not run: {exc}") from None
    for device in devices:
        if device not in offered:
            raise MissingPart(f"{qemu} has no {device} device")
    return qemu
