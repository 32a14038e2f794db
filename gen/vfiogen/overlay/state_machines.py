"""[state_machines.<enum>]: a state machine the kernel enforces on the values
of a C enum (the VFIO migration FSM), format in headers/OVERLAY.md.

Checked: the enum exists (unless since/until say this header lacks it);
`feature`, `flags_feature` and every flag of `needs` are constants of the
header; `blocked` and every state are enumerators of that enum; `errno` is
an errno name. The table must be complete: each state's `next` names every
state this release has, exactly once, and each step is a state of this
release or `blocked`; states (and `next` entries) a release lacks are
dropped when their state's since/until say so. Every walk the table
describes ends (at its target or at `blocked`), for every set of flags.
"""

from __future__ import annotations

import errno
from typing import Any

from vfiogen.ir.model import FsmState, StateMachine
from vfiogen.overlay.checks import Checks

KEYS = {"feature", "flags_feature", "blocked", "errno", "source", "states", "since", "until"}
STATE_KEYS = {"needs", "next", "since", "until"}


def merge(m: Checks, name: str, entry: Any) -> None:
    path = ("state_machines", name)
    e = m.check_keys(entry, KEYS, path)
    for key in sorted(KEYS - {"since", "until"}):
        if key not in e:
            raise m.fail(path, f"state machine {name} needs '{key}'")
    if name not in m.spec.enums or not m.applies(e):
        m.versioned_absent(e, path, f"enum {name}")
        return
    for key in ("feature", "flags_feature"):
        if e[key] not in m.spec.constants:
            raise m.fail(path + (key,), f"{key} {e[key]} is not a constant of the header")
    if not _enumerator(m, name, e["blocked"]):
        raise m.fail(path + ("blocked",), f"{e['blocked']} is not an enumerator of enum {name}")
    if not isinstance(getattr(errno, str(e["errno"]), None), int):
        raise m.fail(path + ("errno",), f"{e['errno']!r} is not an errno name")
    if not isinstance(e["states"], dict) or not e["states"]:
        raise m.fail(path + ("states",), f"state machine {name}: states must be a table")
    declared = {s: _state_entry(m, path + ("states", s), v) for s, v in e["states"].items()}
    present = {s for s, v in declared.items() if _present(m, name, path + ("states", s), v)}
    if e["blocked"] in declared:
        raise m.fail(path + ("states", e["blocked"]), "the blocked state is not a state to move to")
    machine = StateMachine(
        name,
        m.loc(path),
        e["feature"],
        e["flags_feature"],
        e["blocked"],
        e["errno"],
        e["source"],
        since=e.get("since"),
        until=e.get("until"),
    )
    for state in sorted(present, key=lambda s: list(declared).index(s)):
        machine.states[state] = _state(m, path + ("states", state), declared, present, e)
    _check_walks(m, path, machine)
    m.spec.state_machines[name] = machine


def _check_walks(m: Checks, path: tuple[str, ...], machine: StateMachine) -> None:
    """Every walk ends: for each set of the flags the states need, from each
    state the device supports toward each other one, the steps (skipping
    unsupported states, as the kernel does) reach the target or `blocked`
    without coming back to a state. The kernel's table does; a table with a
    cycle would make the runtime's walk go round."""
    flags = sorted({f for s in machine.states.values() for f in s.needs})
    for n in range(1 << len(flags)):
        have = {f for i, f in enumerate(flags) if n >> i & 1}
        ok = {s for s, st in machine.states.items() if set(st.needs) <= have}
        for start in sorted(ok):
            for target in sorted(ok - {start}):
                seen = [start]
                state = start
                while state not in (target, machine.blocked):
                    came_from, state = state, machine.states[state].next[target]
                    if state in seen:  # positioned at the step that closes the cycle
                        raise m.fail(
                            path + ("states", came_from, "next", target),
                            f"the walk from {start} to {target} with flags "
                            f"[{', '.join(sorted(have))}] comes back: "
                            + " -> ".join(seen + [state]),
                        )
                    seen.append(state)  # a state the device lacks too: the kernel steps past it


def _enumerator(m: Checks, enum: str, name: str) -> bool:
    const = m.spec.constants.get(name)
    return const is not None and const.kind == "enumerator" and const.enum == enum


def _state_entry(m: Checks, path: tuple[str, ...], entry: Any) -> dict[str, Any]:
    e = m.check_keys(entry, STATE_KEYS, path)
    needs, nxt = e.get("needs"), e.get("next")
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise m.fail(path + ("needs",), "needs must be a list of flag constants")
    if not isinstance(nxt, dict) or not all(isinstance(v, str) for v in nxt.values()):
        raise m.fail(path + ("next",), "next must be a table of target state -> next step")
    return e


def _present(m: Checks, enum: str, path: tuple[str, ...], e: dict[str, Any]) -> bool:
    """Whether this release has the state (an unexplained absence is an error)."""
    if _enumerator(m, enum, path[-1]) and m.applies(e):
        return True
    m.versioned_absent(e, path, f"state {path[-1]} of enum {enum}")
    return False


def _state(
    m: Checks,
    path: tuple[str, ...],
    declared: dict[str, dict[str, Any]],
    present: set[str],
    machine: dict[str, Any],
) -> FsmState:
    e = declared[path[-1]]
    for flag in e["needs"]:
        if flag not in m.spec.constants:
            raise m.fail(path + ("needs",), f"{flag} is not a constant of the header")
    nxt: dict[str, str] = {}
    for target, step in e["next"].items():
        where = path + ("next", target)
        if target not in declared:
            raise m.fail(where, f"{target} is not a state of this machine")
        if target not in present:
            continue
        if step not in present and step != machine["blocked"]:
            raise m.fail(where, f"next step {step} is not a state of this release")
        nxt[target] = step
    missing = sorted(present - set(nxt))
    if missing:
        raise m.fail(path + ("next",), f"next has no step toward {', '.join(missing)}")
    return FsmState(path[-1], m.loc(path), list(e["needs"]), nxt, e.get("since"), e.get("until"))
