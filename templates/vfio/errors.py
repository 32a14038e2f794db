# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""The exceptions of the vfio package.

Every failed request raises `VfioError`, an OSError that names the request,
the kind of file descriptor it went to, and the errno; callers can catch
OSError and test `.errno` as with any system call. Malformed data from the
kernel (capability chains, tails) raises `DecodeError`; wrong arguments raise
TypeError or ValueError before any system call is made.
"""

from __future__ import annotations

import errno as _errno
import os


class VfioError(OSError):
    """A VFIO/iommufd request failed: `.request`, `.fd_kind`, `.errno`."""

    def __init__(self, code: int, request: str, fd_kind: str, detail: str = "") -> None:
        name = _errno.errorcode.get(code, str(code))
        message = f"{request} on a {fd_kind} fd failed: {name} ({os.strerror(code)})"
        super().__init__(code, message + (f": {detail}" if detail else ""))
        self.request = request
        self.fd_kind = fd_kind

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self) -> tuple[type[VfioError], tuple[int, str, str]]:
        return (type(self), (self.errno or 0, self.request, self.fd_kind))


class DecodeError(ValueError):
    """Data from the kernel does not decode: `.what` and `.offset` say where."""

    def __init__(self, what: str, offset: int, reason: str) -> None:
        super().__init__(f"{what} at offset {offset}: {reason}")
        self.what = what
        self.offset = offset
        self.reason = reason
