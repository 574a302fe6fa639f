"""The serving worker reads each gunicorn setting once: the values it sees are the
config's own, and later reads do not go back to the config."""

from __future__ import annotations

import pytest
from gunicorn.config import Config

from entrypoints.gunicorn_worker import SettingsReadOnce


def _config() -> Config:
    cfg = Config()
    cfg.set("threads", 4)
    cfg.set("keepalive", 75)
    cfg.set("forwarded_allow_ips", "10.0.0.0/8,127.0.0.1")
    cfg.set("bind", ["127.0.0.1:0"])
    return cfg


def test_every_setting_reads_as_the_config_gives_it() -> None:
    cfg = _config()
    settings = SettingsReadOnce(cfg)
    for name in cfg.settings:
        assert getattr(settings, name) == getattr(cfg, name), name
    # Methods and derived values come from the config itself.
    assert settings.forwarded_allow_networks() == cfg.forwarded_allow_networks()
    assert settings.address == cfg.address
    assert settings.is_ssl is cfg.is_ssl


def test_a_setting_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config()
    settings = SettingsReadOnce(cfg)
    lookups: list[str] = []
    setting = cfg.settings["keepalive"]
    real_get = setting.get
    monkeypatch.setattr(setting, "get", lambda: lookups.append("keepalive") or real_get())
    assert [settings.keepalive for _ in range(5)] == [75] * 5
    assert lookups == ["keepalive"]


def test_unknown_names_and_writes_are_refused() -> None:
    settings = SettingsReadOnce(_config())
    with pytest.raises(AttributeError):
        _ = settings.no_such_setting
    with pytest.raises(AttributeError):
        settings.threads = 8
