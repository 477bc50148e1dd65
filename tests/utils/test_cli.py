"""The driftline command dispatcher."""

from __future__ import annotations

import pytest

from driftline.utils.cli import SUBCOMMANDS, build_parser, main


def test_every_subcommand_resolves_to_real_functions() -> None:
    for name in SUBCOMMANDS:
        parser = build_parser(name)
        assert parser.prog == "driftline"


def test_unknown_command_exits_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["frobnicate"])
    assert excinfo.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
