"""The work of the commands whose answers are cached (`cli.answers`): imported
by `cli.main` only when the answer is not in the user cache."""
