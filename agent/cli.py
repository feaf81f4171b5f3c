"""The tagih command line: the only place errors become exit codes and one-line messages.

Each command is thin: it parses flags, calls library code, prints the result.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from agent.config import Config, load_config
from agent.errors import TagihError

F = TypeVar("F", bound=Callable[..., Any])


def _fail_cleanly(fn: F) -> F:
    """Turn TagihError into `tagih: error: <one line>` and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TagihError as exc:
            click.echo(f"tagih: error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("tagih: interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def _config(ctx: click.Context) -> Config:
    obj = ctx.ensure_object(dict)
    if "config" not in obj:
        obj["config"] = load_config(obj.get("config_path"))
    cfg: Config = obj["config"]
    return cfg


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="TOML config file (default: $TAGIH_CONFIG or ./tagih.toml if present).")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.version_option(package_name="tagih")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """tagih: an on-premise voice bot for payment-reminder calls through Asterisk."""
    ctx.ensure_object(dict)["config_path"] = config_path
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# --- the daemon and single calls (issue 2) -------------------------------------------------


# --- speech: models (issue 3) ---------------------------------------------------------------


# --- negotiation: nlu, simulate (issue 4) ---------------------------------------------------


# --- store, import, window, scheduler (issue 5) ---------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="tagih")


__all__ = ["_config", "_fail_cleanly", "asyncio", "cli", "main"]
