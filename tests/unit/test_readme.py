"""The README documents every CLI command, and every command's --help works."""

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from agent.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _commands(group: click.Group, prefix: str = "tagih") -> list[str]:
    out = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        out.append(path)
        if isinstance(command, click.Group):
            out += _commands(command, path)
    return out


COMMANDS = _commands(cli)


def test_there_are_commands() -> None:
    assert {"tagih run", "tagih call", "tagih nlu", "tagih simulate", "tagih window",
            "tagih import debtors", "tagih models fetch"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_mentions_every_command(command: str) -> None:
    words = command.split()
    # "tagih models list/fetch/verify" style rows count for each subcommand
    assert command in README or (
        " ".join(words[:-1]) in README and words[-1] in README), command


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, [*command.split()[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
