"""compose.yaml stays true to the program it runs, without Docker: every variable the bot
services set is a setting, the settings it makes are replica mode (the webhook on PostgreSQL),
both replicas share one encryption key, the proxy sends the webhook's path to both, and the
secrets are refused when missing (``${VAR:?…}``), never defaulted."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography.fernet import Fernet
from pydantic import AliasChoices

from bot.config import HEALTH_PATH, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"

# What an operator puts in .env beside compose.yaml: compose refuses to start without them.
REQUIRED = {
    "TELEGRAM_BOT_TOKEN": "123456:ABC-operator-token",
    "WEBHOOK_SECRET": "operator_secret-1",
    "BOT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "POSTGRES_PASSWORD": "pgpass123",
    "PAYLINKS_DOMAIN": "pay.example.rw",
}
SECRETS = {"TELEGRAM_BOT_TOKEN", "WEBHOOK_SECRET", "BOT_ENCRYPTION_KEY", "POSTGRES_PASSWORD"}
_REFERENCE = re.compile(r"\$\{(\w+)(?:(:?[?-])([^}]*))?\}")


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _bots() -> dict[str, dict[str, Any]]:
    """The services that run the project's image (built from its Dockerfile)."""
    return {name: s for name, s in _services().items() if "build" in s}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the KEY=value form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _interpolate(value: str) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}``, with the operator's
    .env holding exactly ``REQUIRED``."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in REQUIRED:
            return REQUIRED[name]
        if op in (":-", "-"):
            return arg
        raise AssertionError(f"compose.yaml reads {name}, which no operator is told to set")

    return _REFERENCE.sub(one, value)


def _settings_of(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [*Settings.model_fields, "port"]:
        monkeypatch.delenv(name.upper(), raising=False)
    for key, value in _environment(service).items():
        monkeypatch.setenv(key, _interpolate(value))
    monkeypatch.chdir(ROOT / "tests")  # no .env of anybody's is read
    return load_settings()


def _upstreams() -> tuple[str, list[str]]:
    """The Caddyfile the proxy mounts: the path it proxies and the upstreams it sends it to."""
    proxy = _services()["proxy"]
    mounts = [m.split(":") for m in proxy["volumes"] if m.endswith("/etc/caddy/Caddyfile:ro")]
    assert len(mounts) == 1, "the proxy mounts one Caddyfile, read-only"
    caddyfile = (ROOT / mounts[0][0]).resolve()
    assert caddyfile.is_file(), f"{caddyfile} is missing"
    text = caddyfile.read_text()
    handled = re.search(r"handle (/\S*) \{\s*reverse_proxy ([^{\n]+)\{(.*?)\}", text, re.DOTALL)
    assert handled is not None, "the Caddyfile proxies one path to the replicas"
    path, upstreams, options = handled.group(1), handled.group(2).split(), handled.group(3)
    assert re.search(rf"health_uri {HEALTH_PATH}\b", options), "health checks on /healthz"
    assert "lb_policy round_robin" in options
    assert re.search(r"^\{\$PAYLINKS_DOMAIN\} \{$", text, re.M), "the site: the operator's domain"
    return path, upstreams


def test_two_replicas_of_the_projects_image() -> None:
    bots = _bots()
    assert len(bots) == 2
    for service in bots.values():
        build = service["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        assert (ROOT / context / "Dockerfile").is_file()


def test_every_variable_the_bots_set_is_a_setting() -> None:
    known = {name.upper() for name in Settings.model_fields} - {"DEMO_MODE"}
    for field in Settings.model_fields.values():
        if isinstance(field.validation_alias, AliasChoices):
            known |= {str(c).upper() for c in field.validation_alias.choices}
    for name, service in _bots().items():
        unknown = set(_environment(service)) - known
        assert not unknown, f"{name} sets {sorted(unknown)}, which no setting reads"


def test_the_bots_run_as_replicas_on_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    path, upstreams = _upstreams()
    for name, service in _bots().items():
        settings = _settings_of(service, monkeypatch)
        assert settings.replicated, f"{name}: the webhook on PostgreSQL"
        database = urlsplit(str(settings.database_target))
        assert (database.scheme, database.hostname) == ("postgresql", "postgres")
        assert database.password == REQUIRED["POSTGRES_PASSWORD"]
        assert settings.webhook_url == f"https://{REQUIRED['PAYLINKS_DOMAIN']}{path}"
        assert settings.webhook_listen == "0.0.0.0"  # inside its container
        assert f"{name}:{settings.webhook_port}" in upstreams, f"the proxy reaches {name}"
        assert settings.bot_encryption_key is not None
        assert settings.bot_encryption_key.get_secret_value() == REQUIRED["BOT_ENCRYPTION_KEY"]
    assert len(upstreams) == len(_bots()), "the proxy sends to the replicas, and only them"


def test_the_replicas_share_one_key_and_keep_their_own_data_folder() -> None:
    bots = list(_bots().values())
    keys = {_environment(s)["BOT_ENCRYPTION_KEY"] for s in bots}
    assert len(keys) == 1, "one BOT_ENCRYPTION_KEY reference for every replica"
    # The data folder holds a lock (one bot per folder): a shared volume would stop the second.
    folders = [tuple(sorted(s.get("volumes", []))) for s in bots]
    assert all(folders) and len(set(folders)) == len(folders)


def test_secrets_are_required_never_defaulted() -> None:
    text = COMPOSE.read_text()
    for name in SECRETS:
        uses = [m for m in _REFERENCE.finditer(text) if m.group(1) == name]
        assert uses, f"compose.yaml never reads {name}"
        for use in uses:
            assert use.group(2) == ":?" and use.group(3).strip(), f"{use.group(0)}: say why"


def test_the_bots_wait_for_a_healthy_postgresql() -> None:
    services = _services()
    postgres = services["postgres"]
    assert str(postgres["image"]).startswith("postgres:")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    for name, service in _bots().items():
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name


def test_the_image_exposes_the_webhook_port(monkeypatch: pytest.MonkeyPatch) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    exposed = {
        int(p) for line in re.findall(r"^EXPOSE (.+)$", dockerfile, re.M) for p in line.split()
    }
    for service in _bots().values():
        assert _settings_of(service, monkeypatch).webhook_port in exposed


def test_a_stopping_replica_has_time_to_finish_the_updates_in_hand() -> None:
    from bot.replicas import STOP_GRACE_SECONDS

    for name, service in _bots().items():
        grace = re.fullmatch(r"(\d+)s", str(service.get("stop_grace_period", "10s")))
        assert grace is not None, f"{name}: stop_grace_period in seconds, e.g. 30s"
        assert int(grace.group(1)) > STOP_GRACE_SECONDS, f"{name}: Docker kills it first"
