"""The rig's errors, in a module of their own: rig.py also runs as a script,
and every rig_* module must raise the same classes the tier catches."""

from __future__ import annotations


class RigError(Exception):
    """The rig could not produce a result (bad kernel package, bad host path...)."""


class MissingPart(RigError):
    """A host tool the rig needs is absent; tests skip on it (fail under CI=true)."""


class GuestFailure(RigError):
    """QEMU died, the guest timed out, or /init did not finish the job."""
