"""agent.models: model-dir checks, fetch (offline failure, local mirror on 127.0.0.1), CLI."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent import models
from agent.cli import cli
from agent.errors import AsrError

NAME = "vosk-model-small-en-us-0.15"
MODEL_FILES = ["am/final.mdl", "conf/mfcc.conf", "conf/model.conf", "graph/HCLr.fst",
               "graph/Gr.fst"]


def _fake_model(root: Path, files: list[str] = MODEL_FILES) -> Path:
    for f in files:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_bytes(b"x")
    return root


def _zip(files: list[str], prefix: str = f"{NAME}/") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in files:
            zf.writestr(prefix + f, b"x")
    return buf.getvalue()


@pytest.fixture
def mirror() -> Iterator[dict[str, bytes]]:
    """An HTTP server on 127.0.0.1 serving whatever the test puts in the dict."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path.lstrip("/"))
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    files["__base__"] = f"http://127.0.0.1:{server.server_address[1]}/".encode()
    yield files
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        (MODEL_FILES, None),
        (["am/final.mdl", "conf/mfcc.conf", "conf/model.conf", "graph/HCLG.fst"], None),
        (MODEL_FILES[1:], "missing am/final.mdl"),
        ([*MODEL_FILES[:3], "graph/HCLr.fst"], "missing graph/HCLG.fst (or graph/HCLr.fst"),
        ([], "missing am/final.mdl, conf/mfcc.conf, conf/model.conf, graph/HCLG.fst"),
    ],
)
def test_check_model_dir(tmp_path: Path, files: list[str], problem: str | None) -> None:
    got = models.check_model_dir(_fake_model(tmp_path / "m", files) if files else tmp_path)
    if problem is None:
        assert got is None
    else:
        assert got is not None and got.startswith(problem)


def test_check_model_dir_on_missing_path_and_file(tmp_path: Path) -> None:
    assert models.check_model_dir(tmp_path / "nope") == "does not exist"
    (tmp_path / "f").write_text("x")
    assert models.check_model_dir(tmp_path / "f") == "is not a directory"


def test_resolve_model_path(tmp_path: Path) -> None:
    _fake_model(tmp_path / "mine")
    assert models.resolve_model_path("mine", str(tmp_path)) == str(tmp_path / "mine")
    assert models.resolve_model_path("/abs/x", str(tmp_path)) == "/abs/x"
    assert models.resolve_model_path("rel/x", str(tmp_path)) == "rel/x"


def test_fetch_fails_fast_and_cleanly_without_network(tmp_path: Path) -> None:
    with pytest.raises(AsrError, match=r"cannot resolve tagih-no-such-host\.invalid.*no network"):
        models.fetch(NAME, str(tmp_path / "models"), base_url="https://tagih-no-such-host.invalid/")
    assert not (tmp_path / "models").exists()  # nothing was created


def test_fetch_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(AsrError, match="unknown model 'vosk-model-xx'"):
        models.fetch("vosk-model-xx", str(tmp_path))


def test_fetch_from_mirror_unpacks_atomically(tmp_path: Path, mirror: dict[str, bytes]) -> None:
    blob = _zip(MODEL_FILES)
    mirror[f"{NAME}.zip"] = blob
    dest = tmp_path / "models"
    path = models.fetch(NAME, str(dest), sha256=hashlib.sha256(blob).hexdigest(),
                        base_url=mirror["__base__"].decode())
    assert path == dest / NAME
    assert models.check_model_dir(path) is None
    assert sorted(p.name for p in dest.iterdir()) == [NAME]  # no temp dirs left behind
    with pytest.raises(AsrError, match="already exists"):
        models.fetch(NAME, str(dest), base_url=mirror["__base__"].decode())


@pytest.mark.parametrize(
    ("blob", "sha", "message"),
    [
        (_zip(MODEL_FILES), "0" * 64, "does not match"),
        (b"not a zip", None, "not a valid zip"),
        (_zip(MODEL_FILES[1:]), None, "does not hold a model: missing am/final.mdl"),
    ],
)
def test_fetch_rejects_bad_downloads_and_leaves_nothing(
        tmp_path: Path, mirror: dict[str, bytes], blob: bytes, sha: str | None,
        message: str) -> None:
    mirror[f"{NAME}.zip"] = blob
    dest = tmp_path / "models"
    with pytest.raises(AsrError, match=message):
        models.fetch(NAME, str(dest), sha256=sha, base_url=mirror["__base__"].decode())
    assert list(dest.iterdir()) == []


def test_fetch_reports_http_errors(tmp_path: Path, mirror: dict[str, bytes]) -> None:
    with pytest.raises(AsrError, match=r"download of .* failed: HTTP Error 404"):
        models.fetch(NAME, str(tmp_path), base_url=mirror["__base__"].decode())


def test_verify_on_a_bad_dir_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(AsrError, match=f"{tmp_path} missing am/final.mdl"):
        models.verify(str(tmp_path), ["네"])


def test_verify_fails_when_vosk_cannot_load_the_files(tmp_path: Path) -> None:
    fake = _fake_model(tmp_path / "fake")  # the right names, garbage inside
    with pytest.raises(AsrError, match="Vosk cannot load"):
        models.verify(str(fake), ["네"])


def test_cli_models_list_and_errors(tmp_path: Path) -> None:
    _fake_model(tmp_path / "good")
    (tmp_path / "broken").mkdir()
    runner = CliRunner()
    result = runner.invoke(cli, ["models", "list", "--dir", str(tmp_path)])
    assert result.exit_code == 0
    assert NAME in result.output and "vosk-model-small-ko-0.22" in result.output
    assert "good" in result.output and "BROKEN: missing am/final.mdl" in result.output
    result = runner.invoke(cli, ["models", "fetch", "vosk-model-xx", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "tagih: error: models fetch: unknown model 'vosk-model-xx'" in result.output
    result = runner.invoke(cli, ["models", "verify", str(tmp_path / "broken")])
    assert result.exit_code == 1
    assert "tagih: error: models verify:" in result.output
