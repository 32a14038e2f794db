"""Capability chains and device features, both ids of an optional
sub-protocol (features are reported as capabilities), matched by name."""

from __future__ import annotations

from vfiogen.analyses.diff import facts as f
from vfiogen.analyses.diff import rules
from vfiogen.analyses.diff.context import Findings, Sides


def compare_capabilities(s: Sides, out: Findings) -> None:
    o, n = s.old.capabilities, s.new.capabilities
    for name, cap in n.items():
        if name not in o:
            body = f"struct {cap.type}" if cap.type else "no body"
            what = f"new capability id {cap.id} v{cap.version} in {cap.scope} ({body})"
            out.add(rules.CAPABILITY_ADDED, f.NOTHING, name, what)
            continue
        oc = o[name]
        if (oc.id, oc.scope) != (cap.id, cap.scope):
            what = f"id {oc.scope}/{oc.id} -> {cap.scope}/{cap.id}"
            out.add(rules.CAPABILITY_ID, f.NOTHING, name, what)
        if oc.version != cap.version:
            what = f"version {oc.version} -> {cap.version}"
            out.add(rules.CAPABILITY_VERSION, f.NOTHING, name, what)
        if oc.type != cap.type:
            same = bool(oc.type and cap.type and s.same_layout(oc.type, cap.type))
            what = f"body {oc.type or '(none)'} -> {cap.type or '(none)'}"
            out.add(rules.CAPABILITY_BODY, f.Retyping(same), name, what)
    for name, cap in o.items():
        if name not in n:
            what = f"capability id {cap.id} in {cap.scope} is gone"
            out.add(rules.CAPABILITY_REMOVED, f.NOTHING, name, what)


def compare_features(s: Sides, out: Findings) -> None:
    """Device features (vfio_device_feature's index registry)."""
    o, n = s.old.features, s.new.features
    for name, feat in n.items():
        if name not in o:
            what = f"new device feature {feat.index} ({', '.join(feat.ops) or 'probe'})"
            out.add(rules.FEATURE_ADDED, f.NOTHING, name, what)
            continue
        of = o[name]
        if of.index != feat.index:
            what = f"device feature index {of.index} -> {feat.index}"
            out.add(rules.FEATURE_INDEX, f.NOTHING, name, what)
        if of.type != feat.type:
            same = bool(of.type and feat.type and s.same_layout(of.type, feat.type))
            what = f"device feature payload {of.type or '(none)'} -> {feat.type or '(none)'}"
            out.add(rules.FEATURE_PAYLOAD, f.Retyping(same), name, what)
        lost = tuple(op for op in of.ops if op not in feat.ops)
        gained = tuple(op for op in feat.ops if op not in of.ops)
        if lost or gained:
            what = f"device feature ops {', '.join(of.ops)} -> {', '.join(feat.ops)}"
            out.add(rules.FEATURE_OPS, f.OpsChange(lost, gained), name, what)
    for name, feat in o.items():
        if name not in n:
            what = f"device feature {feat.index} is gone"
            out.add(rules.FEATURE_REMOVED, f.NOTHING, name, what)
