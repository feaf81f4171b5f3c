"""Shared fixtures for tests against the real Asterisk sandbox (scripts/pbx).

The sandbox must be provisioned and running (`scripts/pbx provision && scripts/pbx start`).
When ARI does not answer, pbx tests are skipped, or fail when TAGIH_PBX_REQUIRED=1 (as in CI).

Fixtures: pbx_root (the root filesystem), ari_config (the sandbox's ARI URL and credentials),
pbx_ready (skip/fail unless ARI answers), pbx (run a scripts/pbx subcommand).
"""

from __future__ import annotations

import base64
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from agent.config import AriConfig

REPO = Path(__file__).resolve().parents[2]
PBX_SCRIPT = REPO / "scripts" / "pbx"


def pbx_unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when TAGIH_PBX_REQUIRED=1 (CI must not skip pbx tests)."""
    if os.environ.get("TAGIH_PBX_REQUIRED") == "1":
        pytest.fail(f"PBX sandbox required but unavailable: {reason}", pytrace=False)
    pytest.skip(f"PBX sandbox unavailable: {reason} (scripts/pbx provision && scripts/pbx start)")


def run_pbx(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """Run scripts/pbx with the caller's environment (TAGIH_PBX_ROOT, TAGIH_PBX_RUN)."""
    return subprocess.run([str(PBX_SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout_s, check=False)


def ari_info_status(ari: AriConfig, password: str | None = None, timeout_s: float = 2.0) -> int:
    """HTTP status of GET /ari/asterisk/info; 0 when nothing answers. Blocking: fixtures only."""
    token = base64.b64encode(f"{ari.user}:{password or ari.password}".encode()).decode()
    request = urllib.request.Request(f"{ari.url}/ari/asterisk/info",
                                     headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


@pytest.fixture(scope="session")
def pbx_root() -> Path:
    """The sandbox's root filesystem; recordings are under var/spool/asterisk/recording."""
    done = run_pbx("path", timeout_s=10)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


@pytest.fixture(scope="session")
def ari_config() -> AriConfig:
    """The sandbox's ARI: 127.0.0.1:8088, user tagih (dialplan/samples/ari.conf)."""
    return AriConfig()


@pytest.fixture(scope="session")
def pbx_ready(pbx_root: Path, ari_config: AriConfig) -> None:
    if not (pbx_root / "usr/sbin/asterisk").exists():
        pbx_unavailable(f"no Asterisk in {pbx_root}")
    status = ari_info_status(ari_config)
    if status != 200:
        pbx_unavailable(f"GET {ari_config.url}/ari/asterisk/info answered {status or 'nothing'}")


@pytest.fixture(scope="session")
def pbx(pbx_ready: None) -> Callable[..., str]:
    """pbx("stop"), pbx("start"), pbx("cli", "core show channels"): stdout; fails on error."""

    def run(*args: str) -> str:
        done = run_pbx(*args)
        assert done.returncode == 0, f"scripts/pbx {' '.join(args)}: {done.stderr}{done.stdout}"
        return done.stdout

    return run
