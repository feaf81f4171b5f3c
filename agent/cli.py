"""The tagih command line: the only place errors become exit codes and one-line messages.

Each command is thin: it parses flags, calls library code, prints the result.
"""

from __future__ import annotations

import asyncio
import functools
import json
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


@cli.command()
@click.pass_context
@_fail_cleanly
def run(ctx: click.Context) -> None:
    """Run the daemon in the foreground (Ctrl-C or SIGTERM drains live calls and stops)."""
    from agent.daemon import Daemon, install_signal_handlers
    from agent.tts import Tts

    cfg = _config(ctx)

    async def _main() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        tts = Tts(cfg.tts)
        try:
            click.echo(f"tagih: daemon up; ARI {cfg.ari.url} app {cfg.ari.app}; "
                       f"control socket {cfg.daemon.control_socket}", err=True)
            await Daemon(cfg, tts).run(stop)
        finally:
            await tts.aclose()

    asyncio.run(_main())


def _parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--var")
        out[key] = value
    return out


@cli.command()
@click.argument("number")
@click.option("--name", default="", help="The debtor's name, for the greeting.")
@click.option("--lang", default="", help="Locale of the call (id, en).")
@click.option("--var", "variables", multiple=True, metavar="KEY=VALUE",
              help="Channel variable for the dialplan (repeatable).")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True,
              help="Seconds to wait for the call to end.")
@click.pass_context
@_fail_cleanly
def call(ctx: click.Context, number: str, name: str, lang: str, variables: tuple[str, ...],
         timeout_s: float) -> None:
    """Place one call through the running daemon; print its report as JSON."""
    from agent.control import request

    cfg = _config(ctx)
    body = {"number": number, "name": name, "locale": lang, "variables": _parse_vars(variables)}
    report = asyncio.run(request(cfg.daemon.control_socket, "POST", "/calls", body,
                                 timeout_s=timeout_s))
    click.echo(json.dumps(report, ensure_ascii=False))


@cli.command()
@click.pass_context
@_fail_cleanly
def status(ctx: click.Context) -> None:
    """Show whether the daemon runs, is connected to Asterisk, and its live calls."""
    from agent.control import request

    cfg = _config(ctx)
    click.echo(json.dumps(asyncio.run(request(cfg.daemon.control_socket, "GET", "/status",
                                              timeout_s=5))))


# --- speech: models (issue 3) ---------------------------------------------------------------


# --- negotiation: nlu, simulate (issue 4) ---------------------------------------------------


# --- store, import, window, scheduler (issue 5) ---------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="tagih")


__all__ = ["_config", "_fail_cleanly", "asyncio", "cli", "main"]
