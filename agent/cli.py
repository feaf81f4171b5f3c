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
    from agent.service import serve

    cfg = _config(ctx)
    asyncio.run(serve(cfg, announce=lambda line: click.echo(line, err=True)))


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
@click.option("--amount-due", type=int, default=None, help="Amount due (currency units).")
@click.option("--due", default=None, metavar="YYYY-MM-DD", help="Due date.")
@click.option("--payday", type=click.IntRange(1, 31), default=None, help="Payday (day of month).")
@click.option("--currency", default="IDR", show_default=True)
@click.option("--today", default=None, metavar="YYYY-MM-DD", help="Override today's date.")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True,
              help="Seconds to wait for the call to end.")
@click.pass_context
@_fail_cleanly
def call(ctx: click.Context, number: str, name: str, lang: str, variables: tuple[str, ...],
         amount_due: int | None, due: str | None, payday: int | None, currency: str,
         today: str | None, timeout_s: float) -> None:
    """Place one call through the running daemon; print its report as JSON.

    With --amount-due and --due the bot negotiates; without them it is a test call that greets
    and listens (to check a trunk's audio)."""
    from agent.control import request

    cfg = _config(ctx)
    body = {"number": number, "name": name, "locale": lang, "variables": _parse_vars(variables),
            "amount_due": amount_due, "due": due, "payday": payday, "currency": currency,
            "today": today}
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


@cli.group("models")
def models_group() -> None:
    """Vosk speech models: list, fetch an official one, verify a directory."""


@models_group.command("list")
@click.option("--dir", "models_dir", default="models", show_default=True)
@_fail_cleanly
def models_list(models_dir: str) -> None:
    """Official small models tagih supports, and what is installed."""
    from agent import models

    click.echo("official (tagih models fetch NAME):")
    for m in models.OFFICIAL.values():
        sha = m.sha256 or "no sha256 recorded"
        click.echo(f"  {m.name:32} {m.language:6} ~{m.size_mb} MB  {sha}")
    click.echo("installed:")
    found = models.installed(models_dir)
    for inst in found:
        state = "ok" if inst.problem is None else f"BROKEN: {inst.problem}"
        click.echo(f"  {inst.name:32} {state}  {inst.path}")
    if not found:
        click.echo("  (none)")


@models_group.command("fetch")
@click.argument("name")
@click.option("--dir", "models_dir", default="models", show_default=True)
@click.option("--sha256", default=None, help="Expected sha256 of the zip.")
@_fail_cleanly
def models_fetch(name: str, models_dir: str, sha256: str | None) -> None:
    """Download an official Vosk model zip into models/NAME."""
    from agent import models

    path = models.fetch(name, models_dir, sha256=sha256)
    click.echo(f"fetched {name} into {path}")


@models_group.command("verify")
@click.argument("path", required=False)
@click.option("--phrase", "phrases", multiple=True,
              help="A grammar phrase whose words must be in the vocabulary (repeatable).")
@click.pass_context
@_fail_cleanly
def models_verify(ctx: click.Context, path: str | None, phrases: tuple[str, ...]) -> None:
    """Check a model directory (default: asr.model_path) and look up grammar words."""
    from agent import models

    target = models.resolve_model_path(path if path else _config(ctx).asr.model_path)
    report = models.verify(target, list(phrases))
    total = len(report.known) + len(report.missing)
    click.echo(f"{target}: loads; {len(report.known)}/{total} grammar words in vocabulary")
    if report.missing:
        click.echo("missing: " + " ".join(report.missing))
        raise SystemExit(1)



# --- negotiation: nlu, simulate (issue 4) ---------------------------------------------------


def _iso_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    import datetime

    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


@cli.command("nlu")
@click.option("--lang", "lang", default="id", show_default=True,
              help="Locale pack: en, id, or a pack directory.")
@click.option("--today", callback=_iso_date, default=None, help="Resolve dates against this day.")
@click.option("--amount-due", type=click.IntRange(min=0), default=None,
              help="Amount due, for half / 50 persen.")
@click.option("--payday", type=click.IntRange(1, 31), default=None, help="Payday day of month.")
@click.argument("text", nargs=-1, required=True)
@_fail_cleanly
def nlu_cmd(lang: str, today: Any, amount_due: int | None, payday: int | None,
            text: tuple[str, ...]) -> None:
    """Print the intent and slots of TEXT as one JSON object."""
    import datetime

    from agent.nlu import NluContext, understand

    context = NluContext(today=today or datetime.date.today(), amount_due=amount_due,
                         payday=payday)
    result = understand(" ".join(text), lang, context)
    click.echo(json.dumps(result.to_dict(), ensure_ascii=False))


@cli.command("simulate")
@click.option("--lang", "lang", default="id", show_default=True,
              help="Locale pack: en, id, or a pack directory.")
@click.option("--name", required=True, help="Debtor's name.")
@click.option("--amount-due", type=click.IntRange(min=1), required=True)
@click.option("--due", callback=_iso_date, required=True, help="Due date YYYY-MM-DD.")
@click.option("--today", callback=_iso_date, default=None, help="Today (default: the clock).")
@click.option("--payday", type=click.IntRange(1, 31), default=None, help="Payday day of month.")
@click.option("--currency", default="IDR", show_default=True)
@click.option("--creditor", default=None, help="Creditor name (default: [call] creditor).")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False), default=None,
              help="Negotiation policy TOML (default: [negotiation] of the config).")
@click.option("--script", "script", type=click.File("r", encoding="utf-8"), default=None,
              help="Debtor lines, one per turn; an empty line is a silence (default: stdin).")
@click.option("--machine", is_flag=True, help="Answering machine detected.")
@click.option("--time-barred", is_flag=True, help="The debt is time-barred.")
@click.option("--hour", type=click.IntRange(0, 23), default=12, show_default=True,
              help="Debtor's local hour (greeting).")
@click.pass_context
@_fail_cleanly
def simulate_cmd(ctx: click.Context, lang: str, name: str, amount_due: int, due: Any,
                 today: Any, payday: int | None, currency: str, creditor: str | None,
                 policy_path: str | None, script: Any, machine: bool, time_barred: bool,
                 hour: int) -> None:
    """Talk to the dialog engine in text; prints the call outcome as JSON at the end."""
    import datetime

    from agent.dialog import CallContext
    from agent.locale import load_pack
    from agent.simulate import converse, outcome_json
    from agent.terms import load_policy

    cfg = _config(ctx)
    policy = load_policy(policy_path) if policy_path else cfg.negotiation
    call = CallContext(name=name, amount_due=amount_due, due_date=due,
                       today=today or datetime.date.today(), pack=load_pack(lang),
                       policy=policy, currency=currency, creditor=creditor or cfg.call.creditor,
                       payday=payday, is_machine=machine, time_barred=time_barred, hour=hour)
    lines = script if script is not None else sys.stdin
    result = converse(call, lines, click.echo, echo=script is not None)
    click.echo(outcome_json(result))



# --- store, import, window, scheduler (issue 5) ---------------------------------------------


def _db_path(ctx: click.Context, db: str | None) -> str:
    return db or _config(ctx).store.path


def _progress_bar(path: str) -> tuple[Any, Any]:
    """A rich progress bar on stderr for large files when stderr is a terminal."""
    import os

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    if not sys.stderr.isatty() or os.path.getsize(path) < 1_000_000:
        return None, None
    bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task("importing", total=os.path.getsize(path))
    return bar, lambda done, total: bar.update(task, completed=done, total=total)


def _run_import(ctx: click.Context, kind: str, file: str, db: str | None, strict: bool,
                **kwargs: Any) -> None:
    from agent import importer
    from agent.store import Store

    async def go() -> importer.ImportReport:
        store = await Store.open(_db_path(ctx, db))
        try:
            fn = importer.import_debtors if kind == "debtors" else importer.import_payments
            return await fn(store, file, strict=strict, progress=progress, **kwargs)
        finally:
            await store.close()

    bar, progress = _progress_bar(file)
    if bar is not None:
        with bar:
            report = asyncio.run(go())
    else:
        report = asyncio.run(go())
    for bad in report.bad:
        click.echo(f"{file}: {bad}", err=True)
    click.echo(report.summary())
    if report.rolled_back:
        sys.exit(1)


@cli.group("import")
def import_group() -> None:
    """Import debtors or payments from CSV (columns: see README, Importing)."""


@import_group.command("debtors")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--db", default=None, help="SQLite file (default: config store.path).")
@click.option("--strict", is_flag=True, help="Import nothing if any row is bad.")
@click.option("--campaign", default="default", show_default=True,
              help="Campaign the accounts belong to (created if missing).")
@click.option("--region", default="ID", show_default=True,
              help="Region for phone numbers written without a country code.")
@click.pass_context
@_fail_cleanly
def import_debtors_cmd(ctx: click.Context, file: str, db: str | None, strict: bool,
                       campaign: str, region: str) -> None:
    """Import debtors, accounts and phones from FILE (upsert by external id)."""
    _run_import(ctx, "debtors", file, db, strict, campaign=campaign, region=region.upper())


@import_group.command("payments")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--db", default=None, help="SQLite file (default: config store.path).")
@click.option("--strict", is_flag=True, help="Import nothing if any row is bad.")
@click.pass_context
@_fail_cleanly
def import_payments_cmd(ctx: click.Context, file: str, db: str | None, strict: bool) -> None:
    """Import payments from FILE and mark promises kept or broken."""
    _run_import(ctx, "payments", file, db, strict)


@cli.command("window")
@click.option("--profile", "profile_name", default="id-ojk", show_default=True,
              help="Window profile: id-ojk or us-fdcpa.")
@click.option("--tz", "tz_name", required=True, help="IANA time zone, e.g. Asia/Makassar.")
@click.option("--from", "start", required=True, help="First day, YYYY-MM-DD.")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 366))
@_fail_cleanly
def window_cmd(profile_name: str, tz_name: str, start: str, days: int) -> None:
    """Print the allowed calling intervals as JSON [[start, end], ...] (ISO 8601, UTC offsets)."""
    import json
    from datetime import date

    from agent import policy
    from agent.errors import PolicyViolation

    try:
        first = date.fromisoformat(start)
    except ValueError:
        raise PolicyViolation(f"--from {start!r} is not a date (YYYY-MM-DD)") from None
    intervals = policy.allowed_intervals(profile_name, tz_name, first, days)
    click.echo(json.dumps(policy.intervals_json(intervals), indent=1))


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="tagih")


__all__ = ["_config", "_fail_cleanly", "asyncio", "cli", "main"]
