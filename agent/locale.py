"""Locale script packs: prompts, recogniser phrases and words, loaded from TOML data.

A pack is a directory holding `pack.toml` (see locales/README.md). `load_pack("id")` reads the
bundled locales/id; `load_pack("/some/dir")` reads any directory. Packs are cached by resolved
path: loading is the only I/O; rendering and lookups are pure.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from num2words import num2words

from agent.errors import ConfigError

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
PACK_FILE = "pack.toml"
REQUIRED_PROMPTS = (
    "disclosure", "verify", "machine", "third_party", "wrong_number", "reminder",
    "ask_payment", "ask_date", "ask_amount", "counter_full", "counter_partial", "offer_plan",
    "limit", "readback", "readback_plan", "confirmed", "already_paid", "dispute", "hardship",
    "callback", "callback_untimed", "opt_out", "human", "clarify", "fallback", "reprompt",
    "no_response", "refused", "goodbye",
)


@dataclass(frozen=True, slots=True)
class LocalePack:
    """One locale's script pack. Build it with load_pack(); treat every mapping as read-only."""

    code: str
    path: str
    number_lang: str
    prompts: Mapping[str, str]
    phrases: Mapping[str, tuple[str, ...]]  # intent -> recogniser phrases (whole utterances)
    keywords: Mapping[str, tuple[str, ...]]  # intent -> extra match patterns (not a grammar)
    slot_phrases: tuple[str, ...]  # vocabulary for turns that expect amounts and dates
    words: Mapping[str, Any]  # per-locale word tables used by the NLU (see README)
    formats: Mapping[str, Any] = field(default_factory=dict)
    currencies: Mapping[str, str] = field(default_factory=dict)

    def prompt(self, prompt_id: str, **values: object) -> str:
        """The prompt `prompt_id` with {placeholders} filled from `values`."""
        try:
            template = self.prompts[prompt_id]
        except KeyError:
            raise ConfigError(f"locale pack {self.code}: no prompt {prompt_id!r}") from None
        try:
            return " ".join(template.format(**values).split())
        except (KeyError, IndexError) as exc:
            raise ConfigError(
                f"locale pack {self.code}: prompt {prompt_id!r} needs placeholder {exc}"
            ) from None

    def expect(self, intents: Iterable[str], slots: bool = False) -> tuple[str, ...]:
        """The recogniser grammar for a turn expecting `intents` (plus slot words if asked)."""
        seen: dict[str, None] = {}
        for intent in intents:
            for phrase in self.phrases.get(intent, ()):
                seen.setdefault(phrase, None)
        if slots:
            for phrase in self.slot_phrases:
                seen.setdefault(phrase, None)
        return tuple(seen)

    def number(self, value: int) -> str:
        """`value` in words, e.g. 1250000 -> "satu juta dua ratus lima puluh ribu"."""
        return " ".join(str(num2words(value, lang=self.number_lang)).replace(",", " ").split())

    def say_amount(self, amount: int, currency: str = "IDR") -> str:
        """An amount in natural speech, e.g. "satu juta dua ratus lima puluh ribu rupiah"."""
        unit = self.currencies.get(currency, currency)
        template = str(self.formats.get("amount", "{number} {currency}"))
        return " ".join(template.format(number=self.number(amount), currency=unit).split())

    def say_date(self, day: date) -> str:
        """A date in natural speech, e.g. "the fifteenth of December" or "lima belas Desember"."""
        months = self.words.get("months") or []
        month = months[day.month - 1] if len(months) == 12 else self.number(day.month)
        template = str(self.formats.get("date", "{day} {month}"))
        ordinal = str(num2words(day.day, lang=self.number_lang, to="ordinal"))
        return template.format(day=self.number(day.day), day_ord=ordinal, month=month,
                               month_num=self.number(day.month), year=self.number(day.year))

    def say_time(self, hhmm: str) -> str:
        """A clock time "HH:MM" in natural speech, e.g. "seven p m" or "jam tujuh malam"."""
        hour, minute = (int(part) for part in hhmm.split(":"))
        period = ""
        for start, word in self.formats.get("periods", []):
            if hour >= int(start):
                period = str(word)
        twelve = hour % 12 or 12
        key = "time_minutes" if minute else "time"
        template = str(self.formats.get(key, "{hour} {minute} {period}"))
        text = template.format(hour=self.number(twelve), minute=self.number(minute), period=period)
        return " ".join(text.split())


def _tuple_map(section: str, raw: Any, source: Path) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise ConfigError(f"locale pack {source}: [{section}] must be a table")
    out: dict[str, tuple[str, ...]] = {}
    for key, value in raw.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"locale pack {source}: {section}.{key} must be a list of strings")
        out[key] = tuple(" ".join(v.lower().split()) for v in value)
    return out


def _parse(data: dict[str, Any], source: Path) -> LocalePack:
    meta = data.get("meta", {})
    prompts = data.get("prompts", {})
    if not isinstance(prompts, dict):
        raise ConfigError(f"locale pack {source}: [prompts] must be a table")
    missing = [p for p in REQUIRED_PROMPTS if p not in prompts]
    if missing:
        raise ConfigError(f"locale pack {source}: missing prompt {missing[0]!r}")
    slots = data.get("slots", {}).get("phrases", [])
    return LocalePack(
        code=str(meta.get("code", source.name)),
        path=str(source),
        number_lang=str(meta.get("number_lang", meta.get("code", "en"))),
        prompts={str(k): str(v) for k, v in prompts.items()},
        phrases=_tuple_map("phrases", data.get("phrases", {}), source),
        keywords=_tuple_map("keywords", data.get("keywords", {}), source),
        slot_phrases=tuple(" ".join(str(s).lower().split()) for s in slots),
        words=dict(data.get("words", {})),
        formats=dict(data.get("format", {})),
        currencies={str(k): str(v) for k, v in data.get("currency", {}).items()},
    )


@functools.lru_cache(maxsize=32)
def _load_dir(directory: Path) -> LocalePack:
    source = directory / PACK_FILE
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"locale pack {directory}: no {PACK_FILE}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"locale pack {source}: {exc}") from None
    return _parse(data, directory)


def load_pack(name_or_path: str | Path | LocalePack) -> LocalePack:
    """A bundled pack by code ("en", "id") or any pack directory by path; cached."""
    if isinstance(name_or_path, LocalePack):
        return name_or_path
    text = str(name_or_path)
    bundled = LOCALES_DIR / text
    if "/" not in text and "\\" not in text and (bundled / PACK_FILE).exists():
        return _load_dir(bundled.resolve())
    path = Path(text)
    if not path.is_dir():
        raise ConfigError(f"locale pack {text!r}: not a bundled locale nor a directory")
    return _load_dir(path.resolve())
