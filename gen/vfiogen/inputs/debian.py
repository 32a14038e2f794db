"""Download Debian binary packages from any suite without touching /etc/apt.

A private APT_CONFIG (own sources.list, lists and cache dirs) points at the
machine's own Debian mirror; `apt-get download` fetches the .deb and
`dpkg-deb -x` unpacks it. Nothing is installed on the host.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

from vfiogen.errors import SourceError


def debian_mirror() -> str:
    """The machine's own Debian mirror, read from apt's index targets."""
    import subprocess  # late: only a fetch runs it, and a warm command's start-up does without it

    try:
        out = subprocess.run(
            ["apt-get", "indextargets", "--format", "$(SITE)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SourceError("apt", f"cannot ask apt for its mirror: {exc}") from None
    for site in out.split():
        if re.search(r"/debian/?$", site):
            return site
    raise SourceError("apt", "no Debian mirror among apt's sources (is this Debian?)")


def private_apt(
    root: Path, suite: str, refresh: bool = False, arch: str = "amd64"
) -> dict[str, str]:
    """Create (once) and update a private apt config for `suite` and the
    Debian architecture `arch` (a guest of another architecture needs its
    binaries: "ppc64el"); returns the environment to run apt-get with. The
    package lists are fetched once; `refresh` fetches them again (a suite drops
    superseded packages, so names resolved from old lists can vanish from the
    mirror)."""
    d = root / (f"apt-{suite}" if arch == "amd64" else f"apt-{suite}-{arch}")
    for sub in ("lists/partial", "cache/archives/partial", "parts", "prefs"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, APT_CONFIG=str(d / "apt.conf"))
    # The rig fetches kernels in parallel processes, two of them from one suite:
    # one writer of the config and one update at a time, and the lists count
    # only once an update finished.
    with open(d / "update.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _write_config(d, suite, arch)
        updated = d / "lists.updated"
        if refresh or not updated.exists():
            _run(["apt-get", "-qq", "update"], env, d)
            updated.touch()
    return env


def _write_config(d: Path, suite: str, arch: str) -> None:
    """The private apt configuration in `d`: its own sources, lists, cache and
    an empty dpkg status (the host's installs do not matter)."""
    _replace(d / "sources.list", f"deb [arch={arch}] {debian_mirror()} {suite} main\n")
    (d / "status").touch()
    _replace(
        d / "apt.conf",
        f'Dir::Etc::SourceList "{d}/sources.list";\n'
        f'Dir::Etc::SourceParts "{d}/parts";\n'
        f'Dir::Etc::Preferences "{d}/prefs/none";\n'
        f'Dir::Etc::PreferencesParts "{d}/prefs";\n'
        f'Dir::State::Lists "{d}/lists";\n'
        f'Dir::Cache "{d}/cache";\n'
        f'Dir::State::status "{d}/status";\n'
        'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'
        'Acquire::Languages "none";\n'
        f'APT::Architecture "{arch}";\nAPT::Architectures {{ "{arch}"; }};\n',
    )


def _replace(path: Path, text: str) -> None:
    """Write `text` to `path` unless it is there already, by renaming a
    complete file into place: another process's apt-get may be reading it."""
    if path.exists() and path.read_text() == text:
        return
    staged = path.with_name(path.name + ".new")
    staged.write_text(text)
    staged.replace(path)


def show(
    root: Path, suite: str, package: str, refresh: bool = False, arch: str = "amd64"
) -> dict[str, str]:
    """The control fields (Version, Depends, ...) of the version of `package`
    that `download` would fetch from `suite` for `arch`."""
    env = private_apt(root, suite, refresh, arch)
    out = _run(["apt-cache", "show", "--no-all-versions", package], env, root)
    fields: dict[str, str] = {}
    key = ""
    for line in out.splitlines():
        if not line.strip():
            break  # one record only
        if line[0] in " \t" and key:
            fields[key] += "\n" + line.strip()
        else:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    if "Package" not in fields:
        raise SourceError(f"debian:{suite}", f"apt-cache show {package} gave no record")
    return fields


def depends(fields: dict[str, str]) -> list[str]:
    """Package names in a Depends field: the first alternative of each, without
    version constraints ("a (>= 1) | b, c" -> ["a", "c"])."""
    names = []
    for item in fields.get("Depends", "").split(","):
        first = item.split("|")[0].strip()
        if first:
            names.append(first.split()[0].split(":")[0])
    return names


def closure(root: Path, suite: str, packages: list[str], arch: str = "amd64") -> list[str]:
    """`packages` and everything they depend on, as `apt-get install` would
    add them to an empty system of `arch` (no recommends): what a root
    unpacked from .debs needs (a guest's Python and its libraries)."""
    env = private_apt(root, suite, arch=arch)
    cmd = ["apt-get", "-s", "-qq", "install", "--no-install-recommends", *packages]
    out = _run(cmd, env, root)
    return [line.split()[1] for line in out.splitlines() if line.startswith("Inst ")]


def download(root: Path, suite: str, package: str, dest: Path, arch: str = "amd64") -> Path:
    """Download `package` (of `arch`) from `suite` into `dest`; returns the .deb path."""
    env = private_apt(root, suite, arch=arch)
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.deb"))
    _run(["apt-get", "-qq", "download", package], env, dest)
    debs = sorted(set(dest.glob(f"{package}_*.deb")) - before) or sorted(
        dest.glob(f"{package}_*.deb")
    )
    if not debs:
        raise SourceError(f"debian:{suite}", f"apt-get download {package} gave no .deb")
    return debs[-1]


def extract(deb: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    _run(["dpkg-deb", "-x", str(deb), str(dest)], None, dest.parent)


def _run(cmd: list[str], env: dict[str, str] | None, cwd: Path) -> str:
    """Run an apt/dpkg tool; its stdout, or a SourceError with its last error line."""
    import subprocess  # late: only a fetch runs it, and a warm command's start-up does without it

    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    except OSError as exc:
        raise SourceError(cmd[0], f"cannot run: {exc}") from None
    if proc.returncode:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SourceError(cmd[0], f"{' '.join(cmd)} failed: {tail[0]}")
    return proc.stdout
