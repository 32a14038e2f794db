"""ABI diff of two specs: every change a user of the older header could notice.

abidiff (what the kernel's check-uapi.sh runs) compares struct layouts on the
compiler's own ABI and nothing else. A spec also holds request numbers per
ABI and fd kind, constants and flag bits, capability ids, the layout on every
ABI and the kernel-doc, so this compares all of it. Each difference becomes a
`Change`, classified by what happens to a program built against OLD:

- breaking: an old binary or old source stops working (a number, value,
  offset or size it relies on moved; a name it uses vanished, renames too);
- compatible: an extension it cannot notice (a new request, flag bit or
  type; a field in padding or a reserved field; tail growth of a struct
  whose size the caller passes in `argsz`/`size`);
- cosmetic: documentation text.

Every `Change.detail` says what changed and, after "; ", why it has that
severity.

The package: `compare.diff` is the entry point; one matcher per entity kind
(`requests`, `records` and `fields`, `constants` and `flags`,
`capabilities`, `docs`) pairs the entities of both sides (`renames`, the one
rename detector, pairs names only one side has) and gathers `facts`; `rules`,
one table, turns facts into severity and reason; `model` is what comes out.
Presentation lives in `vfiogen.emit.reports.diff`.
"""
