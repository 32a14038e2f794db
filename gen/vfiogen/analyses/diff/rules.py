"""The severity rules of the diff, as one table: for each aspect of an entity
that can change, its rules in order (entity, change, condition -> severity,
reason). The first rule whose condition holds decides; the last of each
aspect holds always. Matching (the per-kind modules) only gathers facts,
rendering only lays out; every severity and every reason is written here.

Severity is what happens to a program built against OLD: breaking (an old
binary or old source stops working), compatible (an extension it cannot
notice), cosmetic (documentation text). A reason is a `str.format` template
over the attributes of the aspect's facts (`facts`).
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, Mapping, NamedTuple, TypeVar

from vfiogen.analyses.diff import facts as f
from vfiogen.analyses.diff.model import ChangeKind, Entity, Severity

F = TypeVar("F")


class Rule(NamedTuple, Generic[F]):
    id: str  # "<aspect id>.<case>", unique: tests and Change.rule name it
    condition: str  # the condition, in words
    when: Callable[[F], bool]
    severity: Severity
    reason: str  # template over the facts' attributes


class Verdict(NamedTuple):
    rule: str
    severity: Severity
    reason: str


class _Attributes(Mapping[str, object]):
    """The facts' attributes (properties too) as `str.format_map` wants them."""

    def __init__(self, facts: object) -> None:
        self.facts = facts

    def __getitem__(self, key: str) -> object:
        return getattr(self.facts, key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class Aspect(NamedTuple, Generic[F]):
    """One thing that can differ about an entity, and the rules that judge it."""

    id: str
    entities: tuple[Entity, ...]  # the Change.entity values it reports under
    change: ChangeKind
    subject: str  # what is compared, in words
    rules: tuple[Rule[F], ...]

    def judge(self, facts: F) -> Verdict:
        for rule in self.rules:
            if rule.when(facts):
                reason = rule.reason
                if "{" in reason:
                    reason = reason.format_map(_Attributes(facts))
                return Verdict(rule.id, rule.severity, reason)
        raise LookupError(f"no rule of {self.id} holds for {facts}")  # the last always holds


def always(_: object) -> bool:
    return True


OTHERWISE = "otherwise"
SOURCE_BREAK = "a source break (binaries are unaffected)"
ONLY_ZEROED = "callers only zero it"

# --- requests -------------------------------------------------------------------

REQUEST_ADDED = Aspect[f.RequestAddition](
    "request.added",
    ("request",),
    "added",
    "a request only NEW has, per ABI",
    (
        Rule(
            "request.added.reused",
            "its number on that fd kind belonged to another OLD request, which no longer has it",
            lambda x: x.reused_from is not None,
            "breaking",
            "old binaries issuing {reused_from} now reach {name}",
        ),
        Rule("request.added.new", OTHERWISE, always, "compatible", "old binaries never issue it"),
    ),
)
REQUEST_RENAMED = Aspect[f.Renaming](
    "request.renamed",
    ("request",),
    "added",
    "a request only NEW has, with the number and argument of one only OLD has",
    (Rule("request.renamed.new_name", "always", always, "compatible", "same number"),),
)
REQUEST_REMOVED = Aspect[f.Renaming](
    "request.removed",
    ("request",),
    "removed",
    "a request only OLD has",
    (
        Rule(
            "request.removed.renamed",
            "NEW has it under another name (same fd kind, numbers, argument)",
            lambda x: x.renamed,
            "breaking",
            SOURCE_BREAK,
        ),
        Rule(
            "request.removed.gone",
            OTHERWISE,
            always,
            "breaking",
            "old binaries get ENOTTY and source using it no longer compiles",
        ),
    ),
)
REQUEST_NUMBER = Aspect[f.Nothing](
    "request.number",
    ("request",),
    "changed",
    "the request number, per ABI",
    (
        Rule(
            "request.number.moved",
            "always",
            always,
            "breaking",
            "old binaries issue the old number",
        ),
    ),
)
REQUEST_FD = Aspect[f.Nothing](
    "request.fd",
    ("request",),
    "changed",
    "the fd kind it is issued on (both sides annotated)",
    (
        Rule(
            "request.fd.other",
            "always",
            always,
            "breaking",
            "old binaries issue it on the other fd",
        ),
    ),
)
REQUEST_ARG = Aspect[f.Nothing](
    "request.arg",
    ("request",),
    "changed",
    "the argument kind (value, pointer, struct ...)",
    (Rule("request.arg.kind", "always", always, "breaking", "old binaries pass the old kind"),),
)
REQUEST_ARG_TYPE = Aspect[f.Retyping](
    "request.arg_type",
    ("request",),
    "changed",
    "the struct the argument points to",
    (
        Rule(
            "request.arg_type.same_layout",
            "both structs have the same members and layout on every ABI",
            lambda x: x.same_layout,
            "compatible",
            "same layout on every ABI",
        ),
        Rule(
            "request.arg_type.other_layout",
            OTHERWISE,
            always,
            "breaking",
            "old binaries pass the old layout",
        ),
    ),
)
REQUEST_RESULT = Aspect[f.Nothing](
    "request.result",
    ("request",),
    "changed",
    "what the return value is (status, value, fd) or the kind of fd returned",
    (
        Rule(
            "request.result.other",
            "always",
            always,
            "breaking",
            "old binaries read the return value the old way",
        ),
    ),
)
REQUEST_ARGSZ = Aspect[f.Nothing](
    "request.argsz",
    ("request",),
    "changed",
    "the argsz convention",
    (
        Rule(
            "request.argsz.convention",
            "always",
            always,
            "compatible",
            "old callers' sizes are still accepted",
        ),
    ),
)
REQUEST_MINSZ = Aspect[f.SizeChange](
    "request.minsz",
    ("request",),
    "changed",
    "the minimum argsz (offsetofend of the minsz field), per ABI",
    (
        Rule(
            "request.minsz.grew",
            "it grew",
            lambda x: x.grew,
            "breaking",
            "old binaries passing the old minimum get EINVAL",
        ),
        Rule(
            "request.minsz.shrank",
            OTHERWISE,
            always,
            "compatible",
            "old callers pass more than needed",
        ),
    ),
)
REQUEST_DIRECTION = Aspect[f.DirectionChange](
    "request.direction",
    ("request",),
    "changed",
    "the direction of a field of the argument",
    (
        Rule(
            "request.direction.now_read",
            "out -> in or inout: the kernel now reads it",
            lambda x: x.kernel_now_reads,
            "breaking",
            "the kernel now reads what old binaries leave unset",
        ),
        Rule(
            "request.direction.still_filled",
            OTHERWISE,
            always,
            "compatible",
            "old binaries still fill in what the kernel reads",
        ),
    ),
)
REQUEST_GATE = Aspect[f.Nothing](
    "request.gate",
    ("request",),
    "changed",
    "its CHECK_EXTENSION gate or capability scope",
    (
        Rule(
            "request.gate.other",
            "always",
            always,
            "compatible",
            "the request itself is unchanged",
        ),
    ),
)

# --- types ----------------------------------------------------------------------

TYPE_ADDED = Aspect[f.Renaming](
    "type.added",
    ("type",),
    "added",
    "a struct, union or enum only NEW has",
    (
        Rule(
            "type.added.renamed",
            "a struct or union OLD has under another name (same kind, members and layout)",
            lambda x: x.renamed,
            "compatible",
            "new name of {kind} {other}",
        ),
        Rule("type.added.new", OTHERWISE, always, "compatible", "old code does not use it"),
    ),
)
TYPE_REMOVED = Aspect[f.Renaming](
    "type.removed",
    ("type",),
    "removed",
    "a struct, union or enum only OLD has",
    (
        Rule(
            "type.removed.renamed_enum",
            "an enum NEW has under another name, with the same enumerators",
            lambda x: x.kind == "enum" and x.renamed,
            "breaking",
            "renamed to enum {other} with the same enumerators; a source break",
        ),
        Rule(
            "type.removed.enum",
            "an enum, otherwise",
            lambda x: x.kind == "enum",
            "breaking",
            "source naming the enum type no longer compiles",
        ),
        Rule(
            "type.removed.renamed",
            "a struct or union NEW has under another name (same kind, members and layout)",
            lambda x: x.renamed,
            "breaking",
            "renamed to {other} with the same layout; " + SOURCE_BREAK,
        ),
        Rule(
            "type.removed.gone",
            OTHERWISE,
            always,
            "breaking",
            "source naming it no longer compiles",
        ),
    ),
)
TYPE_KIND = Aspect[f.Nothing](
    "type.kind",
    ("type",),
    "changed",
    "struct <-> union",
    (
        Rule(
            "type.kind.other",
            "always",
            always,
            "breaking",
            "every member after the first moves",
        ),
    ),
)
TYPE_LAYOUT = Aspect[f.RecordResize](
    "type.layout",
    ("type",),
    "changed",
    "the size or alignment of a struct or union, per ABI",
    (
        Rule(
            "type.layout.members_moved",
            "an OLD member (reserved ones aside) is gone or at another place",
            lambda x: not x.members_kept,
            "breaking",
            "members moved, old binaries use the old layout",
        ),
        Rule(
            "type.layout.shrank",
            "it shrank",
            lambda x: x.shrank,
            "breaking",
            "old binaries pass and expect more bytes",
        ),
        Rule(
            "type.layout.alignment",
            "only the alignment changed",
            lambda x: x.same_size,
            "compatible",
            "no member moved",
        ),
        Rule(
            "type.layout.grew_embedded",
            "it grew at the tail and another record holds it by value",
            lambda x: x.embedded_in is not None,
            "breaking",
            "embedded in {embedded_in}",
        ),
        Rule(
            "type.layout.grew_negotiated",
            "it grew at the tail and the caller tells the kernel its size",
            lambda x: x.negotiated is not None,
            "compatible",
            "{negotiated}, so the kernel accepts the old size",
        ),
        Rule(
            "type.layout.grew",
            OTHERWISE,
            always,
            "breaking",
            "nothing tells the kernel the caller's size",
        ),
    ),
)

# --- fields ---------------------------------------------------------------------

FIELD_RENAMED = Aspect[f.Renaming](
    "field.renamed",
    ("field",),
    "added",
    "a field only NEW has, at the offset and with the type of one only OLD has",
    (
        Rule(
            "field.renamed.reserved",
            "the OLD field was a reserved one",
            lambda x: x.reserved,
            "compatible",
            "a reserved field put to use",
        ),
        Rule(
            "field.renamed.same_bytes",
            OTHERWISE,
            always,
            "compatible",
            "the same bytes under a new name",
        ),
    ),
)
FIELD_ADDED = Aspect[f.FieldPlacement](
    "field.added",
    ("field",),
    "added",
    "where a field only NEW has lies, per ABI",
    (
        Rule(
            "field.added.flexible_tail",
            "a flexible array at or past the old end",
            lambda x: x.flexible_at_tail,
            "compatible",
            "the struct's size is unchanged",
        ),
        Rule(
            "field.added.union_alternative",
            "in a union, over OLD members that all kept their place",
            lambda x: x.union_alternative,
            "compatible",
            "the bytes keep their old meaning",
        ),
        Rule(
            "field.added.in_reserved",
            "over OLD reserved fields only",
            lambda x: x.in_reserved,
            "compatible",
            "old binaries zero it",
        ),
        Rule(
            "field.added.over_members",
            "over other OLD members",
            lambda x: bool(x.overlaps),
            "breaking",
            "old binaries put other data there",
        ),
        Rule(
            "field.added.in_padding",
            "within the old size, over no member",
            lambda x: x.in_padding,
            "compatible",
            "old binaries leave it zero",
        ),
        Rule(
            "field.added.tail_embedded",
            "past the old end, and another record holds this one by value",
            lambda x: x.embedded_in is not None,
            "breaking",
            "{record} is embedded in {embedded_in}",
        ),
        Rule(
            "field.added.tail_negotiated",
            "past the old end, and the caller tells the kernel its size",
            lambda x: x.negotiated is not None,
            "compatible",
            "{negotiated}, so old binaries simply do not pass it",
        ),
        Rule(
            "field.added.tail",
            OTHERWISE,
            always,
            "breaking",
            "nothing tells the kernel the caller's size",
        ),
    ),
)
FIELD_REMOVED = Aspect[f.FieldRemoval](
    "field.removed",
    ("field",),
    "removed",
    "a field only OLD has",
    (
        Rule(
            "field.removed.reserved_renamed",
            "a reserved field NEW has under another name",
            lambda x: x.renamed and x.reserved,
            "compatible",
            ONLY_ZEROED,
        ),
        Rule(
            "field.removed.renamed",
            "NEW has a field of its offset and type under another name",
            lambda x: x.renamed,
            "breaking",
            SOURCE_BREAK,
        ),
        Rule(
            "field.removed.reserved",
            "a reserved field",
            lambda x: x.reserved,
            "compatible",
            ONLY_ZEROED,
        ),
        Rule(
            "field.removed.reused",
            "new fields took its bytes",
            lambda x: bool(x.users),
            "breaking",
            "its bytes now belong to {user_list}; old binaries still write {name} there",
        ),
        Rule(
            "field.removed.gone",
            OTHERWISE,
            always,
            "breaking",
            "source using it no longer compiles",
        ),
    ),
)
FIELD_TYPE = Aspect[f.FieldRetype](
    "field.type",
    ("field",),
    "changed",
    "the type of a field as the header spells it",
    (
        Rule(
            "field.type.reserved",
            "a reserved field",
            lambda x: x.reserved,
            "compatible",
            "a reserved field, " + ONLY_ZEROED,
        ),
        Rule(
            "field.type.other_kind",
            "another kind of type (int/enum, record, array, pointer)",
            lambda x: not x.kinds_compatible,
            "breaking",
            "a {old_kind} became a {new_kind}, source using it breaks",
        ),
        Rule(
            "field.type.same_place",
            "same offset and size on every ABI",
            lambda x: x.same_place,
            "compatible",
            "same offset and size on every ABI{align_note}",
        ),
        Rule(
            "field.type.other_place",
            OTHERWISE,
            always,
            "breaking",
            "offset or size differs, see the per-ABI changes",
        ),
    ),
)
FIELD_PLACE = Aspect[f.FieldMove](
    "field.place",
    ("field",),
    "changed",
    "the offset or size of a field, per ABI",
    (
        Rule(
            "field.place.reserved",
            "a reserved field",
            lambda x: x.reserved,
            "compatible",
            "a reserved field, " + ONLY_ZEROED,
        ),
        Rule(
            "field.place.moved",
            OTHERWISE,
            always,
            "breaking",
            "old binaries use the old place",
        ),
    ),
)
FIELD_NESTING = Aspect[f.FieldMove](
    "field.nesting",
    ("field",),
    "changed",
    "the anonymous struct or union a field is in",
    (
        Rule(
            "field.nesting.same_offset",
            "its offset is unchanged on every ABI",
            lambda x: x.same_offset,
            "compatible",
            "C code reaches it by the same name at the same offset",
        ),
        Rule(
            "field.nesting.moved",
            OTHERWISE,
            always,
            "compatible",
            "see the offset change",
        ),
    ),
)
FIELD_COUNTED_BY = Aspect[f.Nothing](
    "field.counted_by",
    ("field",),
    "changed",
    "its __counted_by annotation",
    (
        Rule(
            "field.counted_by.other",
            "always",
            always,
            "compatible",
            "an annotation, the layout is unchanged",
        ),
    ),
)

# --- constants, enumerators, flags ---------------------------------------------------

CONSTANTS: tuple[Entity, ...] = ("constant", "enumerator", "flag")

CONSTANT_ADDED = Aspect[f.Renaming](
    "constant.added",
    CONSTANTS,
    "added",
    "a macro or enumerator only NEW has (flags: `flag.added`)",
    (
        Rule(
            "constant.added.renamed",
            "OLD has its value under another name (see `renames`)",
            lambda x: x.renamed,
            "compatible",
            "new name of {other}, same value {value}",
        ),
        Rule("constant.added.new", OTHERWISE, always, "compatible", "old binaries never use it"),
    ),
)
CONSTANT_REMOVED = Aspect[f.Renaming](
    "constant.removed",
    CONSTANTS,
    "removed",
    "a macro or enumerator only OLD has",
    (
        Rule(
            "constant.removed.renamed",
            "NEW has its value under another name (see `renames`)",
            lambda x: x.renamed,
            "breaking",
            SOURCE_BREAK,
        ),
        Rule(
            "constant.removed.gone",
            OTHERWISE,
            always,
            "breaking",
            "source using it no longer compiles",
        ),
    ),
)
CONSTANT_KIND = Aspect[f.KindChange](
    "constant.kind",
    CONSTANTS,
    "changed",
    "macro <-> enumerator",
    (
        Rule(
            "constant.kind.value_changed",
            "its value changed on some ABI",
            lambda x: x.value_changed,
            "breaking",
            "the value changed, old binaries send the old one",
        ),
        Rule(
            "constant.kind.same_value",
            OTHERWISE,
            always,
            "compatible",
            "every use still compiles, only `#ifdef` no longer sees it",
        ),
    ),
)
CONSTANT_VALUE = Aspect[f.ConstantChange](
    "constant.value",
    CONSTANTS,
    "changed",
    "the value of a macro or enumerator, per ABI",
    (
        Rule(
            "constant.value.count_grew",
            "a count or bound (NUM, NR, MAX, COUNT, LAST in its name) that grew",
            lambda x: x.count_grew,
            "compatible",
            "a count or limit that grew with new entries, old binaries know fewer",
        ),
        Rule(
            "constant.value.changed",
            OTHERWISE,
            always,
            "breaking",
            "old binaries use the old value",
        ),
    ),
)
FLAG_ADDED = Aspect[f.FlagAddition](
    "flag.added",
    ("flag",),
    "added",
    "a bit of a flag set only NEW has",
    (
        Rule(
            "flag.added.bit_taken",
            "an OLD flag of the set had its bit and no longer has it",
            lambda x: x.taken_from is not None,
            "breaking",
            "old binaries setting it ask for something else",
        ),
        Rule("flag.added.new_bit", OTHERWISE, always, "compatible", "old binaries never set it"),
    ),
)
FLAG_SET = Aspect[f.Nothing](
    "flag.set",
    ("flag",),
    "changed",
    "the flag set a flag is documented with",
    (Rule("flag.set.other", "always", always, "compatible", "same value"),),
)
MACRO_ADDED = Aspect[f.Nothing](
    "macro.added",
    ("constant",),
    "added",
    "a function-like macro only NEW has",
    (Rule("macro.added.new", "always", always, "compatible", "old code does not use it"),),
)
MACRO_CHANGED = Aspect[f.Nothing](
    "macro.changed",
    ("constant",),
    "changed",
    "the parameters or expansion of a function-like macro",
    (
        Rule(
            "macro.changed.expansion",
            "always",
            always,
            "compatible",
            "not evaluated, the constants it uses are compared on their own",
        ),
    ),
)
MACRO_REMOVED = Aspect[f.Nothing](
    "macro.removed",
    ("constant",),
    "removed",
    "a function-like macro only OLD has",
    (
        Rule(
            "macro.removed.gone",
            "always",
            always,
            "breaking",
            "source using it no longer compiles",
        ),
    ),
)

# --- capabilities and device features -----------------------------------------------

CAPABILITY_ADDED = Aspect[f.Nothing](
    "capability.added",
    ("capability",),
    "added",
    "a capability id only NEW has",
    (Rule("capability.added.new", "always", always, "compatible", "old parsers skip unknown ids"),),
)
CAPABILITY_ID = Aspect[f.Nothing](
    "capability.id",
    ("capability",),
    "changed",
    "the id or scope of a capability",
    (
        Rule(
            "capability.id.other",
            "always",
            always,
            "breaking",
            "old parsers look for the old id",
        ),
    ),
)
CAPABILITY_VERSION = Aspect[f.Nothing](
    "capability.version",
    ("capability",),
    "changed",
    "the version of a capability",
    (
        Rule(
            "capability.version.other",
            "always",
            always,
            "compatible",
            "parsers check the version",
        ),
    ),
)
CAPABILITY_BODY = Aspect[f.Retyping](
    "capability.body",
    ("capability",),
    "changed",
    "the struct of a capability's body",
    (
        Rule(
            "capability.body.same_layout",
            "both structs have the same members and layout on every ABI",
            lambda x: x.same_layout,
            "compatible",
            "same layout",
        ),
        Rule(
            "capability.body.other_layout",
            OTHERWISE,
            always,
            "breaking",
            "old parsers read the old body",
        ),
    ),
)
CAPABILITY_REMOVED = Aspect[f.Nothing](
    "capability.removed",
    ("capability",),
    "removed",
    "a capability id only OLD has",
    (
        Rule(
            "capability.removed.gone",
            "always",
            always,
            "breaking",
            "source using its name no longer compiles",
        ),
    ),
)
FEATURE_ADDED = Aspect[f.Nothing](
    "feature.added",
    ("capability",),
    "added",
    "a device feature only NEW has",
    (Rule("feature.added.new", "always", always, "compatible", "old binaries never ask for it"),),
)
FEATURE_INDEX = Aspect[f.Nothing](
    "feature.index",
    ("capability",),
    "changed",
    "the index of a device feature",
    (
        Rule(
            "feature.index.other",
            "always",
            always,
            "breaking",
            "old binaries ask for the old one",
        ),
    ),
)
FEATURE_PAYLOAD = Aspect[f.Retyping](
    "feature.payload",
    ("capability",),
    "changed",
    "the struct of a device feature's payload",
    (
        Rule(
            "feature.payload.same_layout",
            "both structs have the same members and layout on every ABI",
            lambda x: x.same_layout,
            "compatible",
            "same layout",
        ),
        Rule(
            "feature.payload.other_layout",
            OTHERWISE,
            always,
            "breaking",
            "old binaries pass the old payload",
        ),
    ),
)
FEATURE_OPS = Aspect[f.OpsChange](
    "feature.ops",
    ("capability",),
    "changed",
    "the operations (get, set, probe) a device feature supports",
    (
        Rule(
            "feature.ops.lost",
            "an operation is no longer supported",
            lambda x: bool(x.lost),
            "breaking",
            "old binaries using {lost_list} fail",
        ),
        Rule("feature.ops.gained", OTHERWISE, always, "compatible", "new operations only"),
    ),
)
FEATURE_REMOVED = Aspect[f.Nothing](
    "feature.removed",
    ("capability",),
    "removed",
    "a device feature only OLD has",
    (
        Rule(
            "feature.removed.gone",
            "always",
            always,
            "breaking",
            "old binaries asking for it fail",
        ),
    ),
)

# --- documentation --------------------------------------------------------------------

DOC = Aspect[f.Nothing](
    "doc",
    ("doc",),
    "changed",
    "kernel-doc comments and field or constant comments",
    (Rule("doc.text", "always", always, "cosmetic", "documentation only"),),
)

# Every aspect, in report order; every rule by id.
ASPECTS: tuple[Aspect[Any], ...] = (
    REQUEST_ADDED,
    REQUEST_RENAMED,
    REQUEST_REMOVED,
    REQUEST_NUMBER,
    REQUEST_FD,
    REQUEST_ARG,
    REQUEST_ARG_TYPE,
    REQUEST_RESULT,
    REQUEST_ARGSZ,
    REQUEST_MINSZ,
    REQUEST_DIRECTION,
    REQUEST_GATE,
    TYPE_ADDED,
    TYPE_REMOVED,
    TYPE_KIND,
    TYPE_LAYOUT,
    FIELD_RENAMED,
    FIELD_ADDED,
    FIELD_REMOVED,
    FIELD_TYPE,
    FIELD_PLACE,
    FIELD_NESTING,
    FIELD_COUNTED_BY,
    CONSTANT_ADDED,
    CONSTANT_REMOVED,
    CONSTANT_KIND,
    CONSTANT_VALUE,
    FLAG_ADDED,
    FLAG_SET,
    MACRO_ADDED,
    MACRO_CHANGED,
    MACRO_REMOVED,
    CAPABILITY_ADDED,
    CAPABILITY_ID,
    CAPABILITY_VERSION,
    CAPABILITY_BODY,
    CAPABILITY_REMOVED,
    FEATURE_ADDED,
    FEATURE_INDEX,
    FEATURE_PAYLOAD,
    FEATURE_OPS,
    FEATURE_REMOVED,
    DOC,
)
RULES: dict[str, Rule[Any]] = {r.id: r for a in ASPECTS for r in a.rules}
