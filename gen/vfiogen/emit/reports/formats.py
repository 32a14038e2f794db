"""The formats of diff and history reports, apart from their renderer so
the command line can offer them without importing Jinja and the analyses."""

FORMATS = ("text", "markdown", "json", "html")
