"""docker-compose.yml must speak the settings model's language."""

from __future__ import annotations

from pathlib import Path

import yaml

from graph.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_compose_environment_names_are_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["services"]["prexus"]["environment"]
    known = {f"PREXUS_{name.upper()}" for name in Settings.model_fields}
    prexus_names = {name for name in env if name.startswith("PREXUS_")}
    assert prexus_names, "the app gets no PREXUS_* settings"
    assert prexus_names <= known, prexus_names - known
    assert {"PREXUS_NEO4J_URI", "PREXUS_NEO4J_PASSWORD"} <= prexus_names


def test_compose_runs_neo4j_526_with_health_check_and_volume() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    neo4j = compose["services"]["neo4j"]
    assert neo4j["image"].startswith("neo4j:5.26")
    assert "healthcheck" in neo4j and neo4j["volumes"]
    assert compose["services"]["prexus"]["depends_on"]["neo4j"]["condition"] == "service_healthy"


def test_settings_read_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("PREXUS_NEO4J_URI", "bolt://example:7687")
    monkeypatch.setenv("PREXUS_DB", "/tmp/x.db")
    settings = Settings()
    assert settings.backend == "neo4j" and str(settings.db) == "/tmp/x.db"
    monkeypatch.delenv("PREXUS_NEO4J_URI")
    assert Settings().backend == "sqlite"
