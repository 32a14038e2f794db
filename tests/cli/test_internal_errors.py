"""No traceback reaches a user: an internal error (a bug, not bad input) is
one line naming the input and the stage, exit 2; --debug shows the traceback."""

from __future__ import annotations

import pytest

from vfiogen import pipeline
from vfiogen.cli import main as cli


def _boom(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("planted internal error")


def test_internal_error_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(pipeline, "compile_spec", _boom)
    assert cli.main(["inspect", "7.2", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("vfiogen: 7.2: internal error in ")
    assert "AssertionError: planted internal error" in err and "--debug" in err


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "compile_spec", _boom)
    with pytest.raises(AssertionError, match="planted internal error"):
        cli.main(["inspect", "7.2", "-q", "--debug"])
