"""Configuration layering: defaults < file < TAGIH_* env < overrides; errors name the key."""

from pathlib import Path

import pytest

from agent.config import load_config
from agent.errors import ConfigError


def test_defaults_match_the_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./tagih.toml here
    cfg = load_config(env={})
    assert cfg.ari.url == "http://127.0.0.1:8088" and cfg.ari.app == "tagih"
    assert cfg.dial.context == "tagih-outbound" and cfg.dial.formats == "ulaw"


def test_layers_in_order(tmp_path: Path) -> None:
    f = tmp_path / "t.toml"
    f.write_text('[ari]\nurl = "http://10.0.0.1:8088"\napp = "fromfile"\n[dial]\n'
                 "ring_timeout_s = 20\n")
    cfg = load_config(f, env={"TAGIH_ARI_APP": "fromenv"},
                      overrides={"dial.ring_timeout_s": 12})
    assert cfg.ari.url == "http://10.0.0.1:8088"
    assert cfg.ari.app == "fromenv"
    assert cfg.dial.ring_timeout_s == 12


def test_password_is_not_in_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={"TAGIH_ARI_PASSWORD": "s3cret-value"})
    assert cfg.ari.password == "s3cret-value"
    assert "s3cret-value" not in repr(cfg)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [("[ari]\nbogus = 1\n", {}, "unknown key 'bogus'"),
     ("[nope]\n", {}, "unknown section [nope]"),
     ("[dial]\nring_timeout_s = 'soon'\n", {}, "dial.ring_timeout_s"),
     ("", {"TAGIH_DIAL_RING_TIMEOUT_S": "x"}, "dial.ring_timeout_s: 'x' is not a valid int"),
     ("[ari\n", {}, "t.toml")],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, env: dict, message: str) -> None:
    f = tmp_path / "t.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(f, env=env)
    assert message in str(err.value)


def test_explicit_missing_file_fails(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", env={})
