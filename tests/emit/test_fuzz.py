"""The fuzz harnesses generated from the spec (vfiogen.emit.fuzz, generated/fuzz/).

The committed output is what render_fuzz gives, byte for byte and formatted;
a short coverage-guided campaign over every decoder target ends without a
failure; every seed decodes or raises DecodeError as its kind says; the
hypothesis strategies draw what they claim (valid structs and chains decode
exactly, broken ones raise DecodeError); the kernel fuzzer builds safe
arguments for every request and mutation (checked against files that answer
ENOTTY, no device needed). syzkaller's compiler checks vfio.txt
(tests/emit/test_syzkaller.py).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import struct
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import black
import pytest
from hypothesis import HealthCheck, given, settings

from support import release_spec
from vfiogen.emit.fuzz import build as fuzz

ROOT = Path(__file__).parents[2]
GENERATED = ROOT / "generated"
sys.path.insert(0, str(GENERATED))

from fuzz import kernel, strategies, targets  # noqa: E402
from fuzz.facts import RECORDS  # noqa: E402
from vfio import abi, caps  # noqa: E402
from vfio import requests as rq  # noqa: E402
from vfio.errors import DecodeError, VfioError  # noqa: E402

HARNESS = GENERATED / "fuzz" / "harness.py"
SCOPES = sorted(caps.SCOPES)
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def tree() -> dict[str, str]:
    return fuzz.render_fuzz(release_spec("7.2"))


# --- the emitter ----------------------------------------------------------------


def test_committed_output_is_current(tree: dict[str, str]) -> None:
    on_disk = {
        str(p.relative_to(GENERATED)): p.read_text()
        for p in (GENERATED / "fuzz").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert sorted(on_disk) == sorted(tree), "generated/fuzz has other files than render_fuzz"
    stale = [p for p, text in tree.items() if on_disk[p] != text]
    assert not stale, f"stale (regenerate with `vfiogen build`): {stale}"


def test_render_is_reproducible_and_formatted(tree: dict[str, str]) -> None:
    assert fuzz.render_fuzz(release_spec("7.2")) == tree
    mode = black.Mode(line_length=100, target_versions={black.TargetVersion.PY311})
    for path, text in tree.items():
        if path.endswith(".py"):
            compile(text, path, "exec")
            assert black.format_str(text, mode=mode) == text, f"{path} is not black-formatted"


def test_every_request_struct_and_scope_has_its_fuzzer(tree: dict[str, str]) -> None:
    spec = release_spec("7.2")
    assert {r.name for r in kernel.REQUESTS} == set(spec.requests)
    names = {t.name for t in targets.TARGETS}
    assert {f"walk.{s}" for s in spec.scopes} <= names
    assert len([n for n in names if n.startswith("decode.")]) == len(spec.records)
    assert len(RECORDS) == len(spec.records)
    for txt in ("fuzz/vfio.txt", "fuzz/vfio_alongside.txt"):
        calls = re.findall(r"^ioctl\$(\w+)(?:\$vfiogen)?\(", tree[txt], re.M)
        assert set(spec.requests) <= set(calls)


# --- the decoder harness --------------------------------------------------------


def harness(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HARNESS), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_bounded_campaign_finds_nothing() -> None:
    """A few seconds of the documented command: every target kind runs, no
    input ends in anything but a value or DecodeError (atheris when installed)."""
    out = harness("--seconds", "4")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    summary = out.stdout.strip().splitlines()[-1]
    assert ", 0 failures" in summary, out.stdout
    for kind in ("walk", "tail", "negotiate", "decode"):
        m = re.search(rf"harness: {kind}\s+(\d+) inputs", out.stdout)
        assert m and int(m.group(1)) > 0, f"no {kind} input ran:\n{out.stdout}"


def test_mutate_engine_is_reproducible() -> None:
    """Without atheris: the same seed and number of inputs, the same counts."""
    runs = [harness("--engine", "mutate", "--runs", "3000", "--seed", "5") for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stdout + runs[0].stderr
    counts = [[line for line in r.stdout.splitlines() if "inputs," in line] for r in runs]
    assert counts[0] == counts[1] and counts[0]


def test_replay_runs_saved_inputs(tmp_path: Path) -> None:
    """--replay runs an input once through the target its first byte picks."""
    saved = tmp_path / "input"
    index = [t.name for t in targets.TARGETS].index("walk.region_info")
    saved.write_bytes(bytes([index]) + bytes(4))  # shorter than the struct
    out = harness("--replay", str(saved))
    assert out.returncode == 0 and "walk.region_info: DecodeError" in out.stdout


def broken_decoder(data: bytes) -> None:
    if len(data) > 2 and data[1] == 0x42:
        raise KeyError("a decoder bug")


def slow_decoder(data: bytes) -> None:
    time.sleep(3)


@pytest.mark.parametrize("run, kind", [(broken_decoder, "crash"), (slow_decoder, "timeout")])
def test_mutate_engine_reports_and_saves_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, run: object, kind: str
) -> None:
    """An exception other than DecodeError, or an input over --timeout, ends
    the campaign with status 1 and the input saved."""
    from fuzz import harness as h

    monkeypatch.setattr(targets, "TARGETS", (targets.Target("broken", run, 4),))
    args = argparse.Namespace(seconds=20, runs=0, target=[], seed=1, timeout=1, work=tmp_path)
    assert h.fuzz_mutate(args, tmp_path) == 1
    assert [p.name.split("-")[0] for p in (tmp_path / "artifacts").iterdir()] == [kind]


def test_unknown_target_is_a_usage_error() -> None:
    out = harness("--seconds", "1", "--target", "walk.nowhere")
    assert out.returncode == 2 and "no target walk.nowhere" in out.stderr


def seeds() -> Iterator[tuple[str, str, bytes]]:
    from fuzz import harness  # its seed file reader

    for target, entries in sorted(harness.load_seeds().items()):
        for what, data in entries:
            yield target, what, data


@pytest.mark.parametrize("target, what, data", list(seeds()))
def test_seed_outcome(target: str, what: str, data: bytes) -> None:
    """Crafted valid seeds decode (chains in full), crafted broken ones raise
    DecodeError, real kernel answers decode."""
    run = targets.BY_NAME[target].run
    if "loops" in what or "lies" in what:
        with pytest.raises(
            DecodeError, match="loop|move forward" if "loops" in what else "do not fit"
        ):
            run(data)
        return
    result = run(data)
    if target.startswith("walk.") and "every known capability" in what:
        scope = target.removeprefix("walk.")
        bodies = {i for (s, i), ct in caps.CAPABILITIES.items() if s == scope and ct.body}
        assert {c.id for c in result} == {i for s, i in caps.CAPABILITIES if s == scope} | {0x7FFF}
        assert all(c.value is not None for c in result if c.id in bodies)


def test_negotiation_against_misbehaving_kernels() -> None:
    """A kernel that asks for more room on every call, or for more than
    api.MAX_ARGSZ, makes _negotiate give up with DecodeError."""
    answer = bytearray(ctypes.sizeof(abi.vfio_device_info))
    answer[0:4] = (len(answer) + 8).to_bytes(4, sys.byteorder)  # 8 more, then 8 more each call
    with pytest.raises(DecodeError, match="kept growing"):
        targets.negotiate("VFIO_DEVICE_GET_INFO", bytes([1]) + bytes(answer))
    answer[0:4] = (1 << 24).to_bytes(4, sys.byteorder)
    with pytest.raises(DecodeError, match="asks for argsz"):
        targets.negotiate("VFIO_DEVICE_GET_INFO", bytes([0]) + bytes(answer))


def test_unpack_short_buffer() -> None:
    """unpack is struct's own fast path and raises struct.error, as
    documented; the checked decoder says DecodeError."""
    with pytest.raises(struct.error):
        abi.vfio_region_info.unpack(bytes(4))
    with pytest.raises(DecodeError, match="needs 32 bytes, the buffer has 4"):
        caps.decode(abi.vfio_region_info, bytes(4))


def test_value_argument_above_int_max() -> None:
    """INT_MAX + 1 is the first value fcntl cannot pass: refused before the
    call; INT_MAX itself reaches the kernel (/dev/null: ENOTTY)."""
    fd = os.open(os.devnull, os.O_RDWR)
    try:
        with pytest.raises(ValueError, match="out of range"):  # refused before the call
            rq.vfio_check_extension(fd, (1 << 31))
        with pytest.raises(VfioError, match="ENOTTY"):
            rq.vfio_check_extension(fd, (1 << 31) - 1)
    finally:
        os.close(fd)


# --- the hypothesis strategies ----------------------------------------------------


@pytest.mark.parametrize("scope", SCOPES)
@EXAMPLES
@given(data=strategies.st.data())
def test_valid_chains_decode_exactly(scope: str, data: strategies.st.DataObject) -> None:
    chain = data.draw(strategies.chain(scope))
    result = caps.walk(scope, chain.data, chain.first)
    assert [(c.id, c.version, c.offset, c.offset + len(c.raw)) for c in result] == list(
        chain.expected
    )
    targets.check_chain(scope, chain.data, chain.first, result)


# what walk() says for each corruption (a `next` moved elsewhere may first
# cut the capability it belongs to short, or leave the buffer unaligned)
CORRUPTION_REASONS = {
    "loop": "the chain loops|does not move forward",
    "past_end": "is past the buffer|needs 8 bytes|not 4-byte aligned",
    "misaligned": "not 4-byte aligned|does not fit|do not fit|is past the buffer|inside this capab",
    "into_struct": "points into the fixed struct",
    "short_buffer": "is shorter than the struct",
    "truncated_header": "needs 8 bytes",
    "body_overrun": "bytes does not fit before|inside this capability's header",
    "tail_lies": "elements of \\d+ bytes do not fit",
}


@pytest.mark.parametrize("scope", SCOPES)
@EXAMPLES
@given(data=strategies.st.data())
def test_broken_chains_raise_decode_error(scope: str, data: strategies.st.DataObject) -> None:
    bad = data.draw(strategies.bad_chain(scope))
    with pytest.raises(DecodeError, match=CORRUPTION_REASONS[bad.corruption]):
        caps.walk(scope, bad.data, bad.first)


def test_every_chain_corruption_is_drawn() -> None:
    """The strategy reaches all its corruptions (with a scope that has tails)."""
    seen = set()

    @settings(max_examples=400, deadline=None, database=None, derandomize=True)
    @given(strategies.bad_chain("region_info"))
    def collect(bad: strategies.BadChain) -> None:
        seen.add(bad.corruption)

    collect()
    assert seen == set(strategies.CHAIN_CORRUPTIONS)


@pytest.mark.parametrize("cls", list(RECORDS), ids=lambda c: c.__name__)
@settings(max_examples=15, deadline=None)
@given(data=strategies.st.data())
def test_valid_records(cls: type, data: strategies.st.DataObject) -> None:
    """Drawn structs decode to their bytes, hold only known flag bits and
    values, their size field is their size and their tail as counted."""
    raw = data.draw(strategies.record(cls))
    value = caps.decode(cls, raw)
    assert bytes(value) == raw[: ctypes.sizeof(cls)]
    facts = RECORDS[cls]
    for name, mask in facts.flags.items():
        assert getattr(value, name) & ~mask == 0
    for name, known in facts.values.items():
        assert getattr(value, name) in known
    if facts.size_field:
        assert getattr(value, facts.size_field) == len(raw)
    if cls in caps.COUNTED_TAILS:
        assert len(caps.counted_tail(value, raw, 0)) == getattr(value, facts.tail[0])


BROKEN = [c for c in RECORDS if strategies.record_mutations(c)]


@pytest.mark.parametrize("cls", BROKEN, ids=lambda c: c.__name__)
@settings(max_examples=15, deadline=None)
@given(data=strategies.st.data())
def test_broken_records(cls: type, data: strategies.st.DataObject) -> None:
    """Each broken fact shows: a lying count raises DecodeError, unknown flag
    bits survive the flag class, the size field disagrees with the size."""
    bad = data.draw(strategies.bad_record(cls))
    value = caps.decode(cls, bad.data)
    facts = RECORDS[cls]
    if bad.mutation == "count_lies":
        with pytest.raises(DecodeError, match="elements of \\d+ bytes do not fit"):
            caps.counted_tail(value, bad.data, 0)
    elif bad.mutation == "unknown_flags":
        for name, mask in facts.flags.items():
            flag_class = type(value).FIELD_VALUES.get(name)
            if getattr(value, name) & ~mask and flag_class is not None:
                assert int(flag_class(getattr(value, name))) == getattr(value, name)
    elif bad.mutation == "unknown_value":
        assert any(getattr(value, n) not in known for n, known in facts.values.items())
    else:
        assert getattr(value, facts.size_field or "") != len(bad.data)


# --- the kernel fuzzer, without a kernel device ------------------------------------


@pytest.fixture()
def null_rig() -> Iterator[kernel.Rig]:
    """A Rig whose VFIO fds are /dev/null: every request answers ENOTTY."""
    fds = {k: os.open(os.devnull, os.O_RDWR) for k in ("container", "group", "device")}
    rig = kernel.Rig("0000:00:03.0", fds, {e: 0 for e in kernel.EXTENSIONS})
    yield rig
    rig.close()
    for fd in fds.values():
        os.close(fd)


def test_kernel_fuzzer_arguments_are_safe(null_rig: kernel.Rig) -> None:
    """Every request under every mutation: struct arguments end at the guard
    page and are too long for fcntl's stack copy, address fields point into
    the scratch mapping or at the bad addresses, and fd fields hold no fd the
    process did not mean (no eventfd is shared between two fields)."""
    fuzzer = kernel.Fuzzer(null_rig, random.Random(3))
    scratch = range(null_rig.scratch.base, null_rig.scratch.guard)
    bad = set(kernel.BAD_ADDRESSES) | {null_rig.scratch.guard, null_rig.scratch.guard - 8}
    for req in kernel.REQUESTS:
        for mutation in req.mutations:
            for _ in range(8):
                arg = fuzzer.argument(req, mutation)
                if req.cls is None:
                    continue
                assert len(arg) >= kernel.MIN_BUFFER
                assert ctypes.addressof(arg) + len(arg) == null_rig.arena.guard
                value = req.cls.from_buffer(arg)
                for name in RECORDS[req.cls].addresses:
                    address = getattr(value, name)
                    assert address in scratch or address in bad, (req.name, mutation, name)
    assert len(set(null_rig.eventfds.values())) == len(null_rig.eventfds)


def test_kernel_fuzzer_campaign_without_a_device(null_rig: kernel.Rig) -> None:
    """A seeded campaign: every request issued, every failure a VfioError (but
    an OverflowError from fcntl would be a range check missing), no fd left open, and the same
    seed gives the same calls."""
    before = kernel.open_fds()
    first = kernel.fuzz(kernel.Fuzzer(null_rig, random.Random(11)), 800)
    second = kernel.fuzz(kernel.Fuzzer(null_rig, random.Random(11)), 800)
    assert first.stats == second.stats
    assert all(s["calls"] for s in first.stats.values())
    escaped = {
        (u["request"], u["traceback"].strip().splitlines()[-1].split(":")[0])
        for u in first.unexpected
    }
    assert escaped == set()  # value arguments > INT_MAX are refused before fcntl
    assert kernel.open_fds() - set(null_rig.eventfds.values()) == before
    per_request, never = first.per_request(set(null_rig.fds), null_rig.extensions)
    assert len(never) == len(kernel.REQUESTS)  # /dev/null answers ENOTTY to everything
    assert first.successes() == {
        "requests": 0,
        "calls": 0,
        "never": [r.name for r in kernel.REQUESTS],
    }


def test_kernel_fuzzer_counts_successes_per_request() -> None:
    campaign = kernel.Campaign()
    reset, info = kernel.REQUESTS[0], kernel.REQUESTS[1]
    campaign.record(reset, "valid", reset.fd, "ok", None)
    campaign.record(reset, "argsz_zero", reset.fd, "ok", None)
    campaign.record(info, "valid", info.fd, "EINVAL", None)
    assert campaign.successes() == {"requests": 1, "calls": 2, "never": [info.name]}
    per_request, _ = campaign.per_request({reset.fd}, {})
    assert per_request[reset.name]["ok"] == 2 and per_request[info.name]["ok"] == 0


@pytest.mark.parametrize("bug", kernel.KERNEL_BUGS, ids=lambda b: b.name)
def test_known_kernel_bug_is_steered_around(null_rig: kernel.Rig, bug: kernel.KernelBug) -> None:
    """An argument that would reach a known kernel bug is changed before the
    call (and counted), unless reproducing; one that would not is left alone."""
    req = next(r for r in kernel.REQUESTS if r.name == bug.request)
    data = bytearray(max(bug.need, ctypes.sizeof(bug.cls)))
    head = bug.cls.from_buffer(data)
    kernel.put(head, RECORDS[bug.cls].size_field or "", len(data))
    for member, value in bug.setup:
        kernel.put(head, member, value)
    del head
    bad = bug.mask if bug.nonzero else bug.match  # nonzero: any masked bit set triggers it
    for value, reproduce, expected, hits in (
        (bad, False, bug.fix & bug.mask, 1),
        (bad, True, bad, 1),
        (bug.fix, False, bug.fix & bug.mask, 0),
    ):
        data[bug.offset : bug.offset + bug.size] = value.to_bytes(bug.size, sys.byteorder)
        fuzzer = kernel.Fuzzer(null_rig, random.Random(0), reproduce=reproduce)
        view = null_rig.arena.ending_at_guard(bytes(data), kernel.MIN_BUFFER)
        fuzzer.steer(req.fd, req, view)
        field = int.from_bytes(bytes(view)[bug.offset : bug.offset + bug.size], sys.byteorder)
        assert field & bug.mask == expected
        assert fuzzer.known[bug.name] == hits
    if bug.iommu is not None:  # on a container whose model another driver serves: left alone
        drivers = kernel.IOMMU_DRIVERS[bug.iommu]
        others = [m for m, d in kernel.IOMMU_DRIVERS.items() if not d & drivers]
        siblings = [m for m, d in kernel.IOMMU_DRIVERS.items() if m != bug.iommu and d & drivers]
        assert others, f"{bug.name}: every IOMMU model shares a driver with its own"
        for model, steered in [(others[0], False)] + [(m, True) for m in siblings]:
            null_rig.iommu = model
            data[bug.offset : bug.offset + bug.size] = bad.to_bytes(bug.size, sys.byteorder)
            view = null_rig.arena.ending_at_guard(bytes(data), kernel.MIN_BUFFER)
            fuzzer = kernel.Fuzzer(null_rig, random.Random(0))
            fuzzer.steer(req.fd, req, view)
            field = int.from_bytes(bytes(view)[bug.offset : bug.offset + bug.size], sys.byteorder)
            # (another bug of the same number may be steered on that model: this one's count)
            assert (fuzzer.known[bug.name] == 1) == steered, (bug.name, model)
            assert (field & bug.mask == bug.fix & bug.mask) == steered, (bug.name, model)


def test_generated_fuzzers_are_typed() -> None:
    mypy = shutil.which("mypy")
    if mypy is None:
        pytest.skip("mypy not installed (pip install '.[test]')")
    out = subprocess.run([mypy, "--strict", "fuzz"], cwd=GENERATED, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


# --- the runtime, where it is written ------------------------------------------------

RUNTIME = ROOT / "templates" / "fuzz"


def test_runtime_is_copied_verbatim() -> None:
    """The spec-independent code is real Python in templates/fuzz/, and
    generated/fuzz/ holds it byte for byte; the spec's tables are apart."""
    for name in fuzz.RUNTIME_FILES:
        assert (GENERATED / "fuzz" / name).read_bytes() == (RUNTIME / name).read_bytes(), name
        assert not (RUNTIME / f"{name}.j2").exists(), name
    assert "{{" not in (RUNTIME / "kernel.py").read_text()


def test_runtime_sources_are_black_and_mypy_strict() -> None:
    sources = [str(RUNTIME / name) for name in fuzz.RUNTIME_FILES]
    fmt = subprocess.run(
        [sys.executable, "-m", "black", "--check", "-q", "-l", "100", *sources],
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stderr
    mypy = shutil.which("mypy")
    if mypy is None:
        pytest.skip("mypy not installed (pip install '.[test]')")
    env = {**os.environ, "MYPYPATH": str(GENERATED)}  # fuzz.facts, fuzz.kernel_spec, vfio
    out = subprocess.run(
        [mypy, "--strict", "--no-incremental", *sources], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stdout
