"""Settings from the environment (PREXUS_*), one model for the CLI, the server and tests."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where data lives and how to reach it; PREXUS_NEO4J_URI set means Neo4j is used."""

    model_config = SettingsConfigDict(env_prefix="PREXUS_", env_file=".env", extra="ignore")

    db: Path = Field(Path("prexus.db"), description="SQLite file of the embedded store")
    neo4j_uri: str | None = Field(None, description="bolt:// or neo4j:// URI; selects Neo4j")
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr = SecretStr("")
    neo4j_database: str | None = None

    @property
    def backend(self) -> str:
        return "neo4j" if self.neo4j_uri else "sqlite"
