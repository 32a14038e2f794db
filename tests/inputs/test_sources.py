"""Kernel tree and git ref inputs give the same spec as the release.

A kernel-tree layout is made from the 7.2 release: headers under
include/uapi with the un-installed spellings (`__user`, the `_UAPI` guard)
and no generated asm/ wrappers, as in a real source tree.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from support import release_spec
from vfiogen import pipeline as compiler
from vfiogen.emit.reports import inspect
from vfiogen.inputs import releases
from vfiogen.inputs import sources


def _kernel_tree(root: Path) -> Path:
    rel = releases.get_release("7.2")
    tree = releases.fetch(rel, quiet=True)
    uapi = root / "include/uapi"
    shutil.copytree(tree / "any-linux-any", uapi, ignore=shutil.ignore_patterns("asm"))
    x86 = root / "arch/x86/include/uapi/asm"
    x86.mkdir(parents=True)
    # only the real arch headers: those that are not one-line asm-generic wrappers
    for h in (tree / "x86-linux-any/asm").iterdir():
        text = h.read_text()
        if not text.strip().startswith("#include <asm-generic/"):
            (x86 / h.name).write_text(text)
    vfio = uapi / "linux/vfio.h"
    text = vfio.read_text().replace(
        "#ifndef VFIO_H\n#define VFIO_H", "#ifndef _UAPIVFIO_H\n#define _UAPIVFIO_H"
    )
    text = text.replace("__u64 *data;", "__u64 __user *data;")
    assert "__user" in text
    vfio.write_text(text)
    (root / "Makefile").write_text("VERSION = 7\nPATCHLEVEL = 2\nSUBLEVEL = 0\n")
    return root


def _same_abi_facts(spec_a, spec_b) -> None:
    for abi in ("x86_64", "i386"):
        a, b = inspect.view(spec_a, abi), inspect.view(spec_b, abi)
        assert a["types"] == b["types"]
        assert a["requests"] == b["requests"]
        ca = {k: v for k, v in a["constants"].items() if k not in ("VFIO_H", "_UAPIVFIO_H")}
        cb = {k: v for k, v in b["constants"].items() if k not in ("VFIO_H", "_UAPIVFIO_H")}
        assert ca == cb


def test_kernel_tree_matches_release(tmp_path: Path) -> None:
    root = _kernel_tree(tmp_path / "linux")
    src = sources.from_kernel_tree(root)
    assert src.kernel_version == "7.2"
    spec = compiler.compile_spec(src, warn=False)
    assert spec.records["vfio_bitmap"].fields[2].type.kind == "pointer"
    _same_abi_facts(spec, release_spec("7.2"))


def test_git_ref_without_checkout(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    root = _kernel_tree(tmp_path / "linux")
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "v7.2"], check=True)
    subprocess.run([*git, "tag", "v7.2"], check=True)
    # the work tree changes afterwards: the ref, not the checkout, is read
    (root / "include/uapi/linux/vfio.h").write_text("#error not this one\n")
    src = sources.from_git(root, "v7.2")
    assert src.description.endswith("@v7.2")
    _same_abi_facts(compiler.compile_spec(src, warn=False), release_spec("7.2"))


def test_git_unknown_ref(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with pytest.raises(sources.SourceError, match="cannot read ref 'nope'"):
        sources.from_git(tmp_path, "nope")
