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
    state_db: Path | None = Field(
        None, description="SQLite file of API keys, sessions and the audit trail; default "
        "prexus-state.db beside the embedded store's file, whichever backend is used"
    )
    rate_limit_per_minute: int = Field(
        600, ge=0, description="Requests a key (or, without keys, a client) may make per "
        "minute on average; 0 turns the limit off"
    )
    rate_limit_burst: int = Field(120, ge=1, description="Requests allowed at once")
    session_hours: float = Field(12, gt=0, description="How long a page sign-in lasts")

    @property
    def backend(self) -> str:
        return "neo4j" if self.neo4j_uri else "sqlite"

    @property
    def state_db_path(self) -> Path:
        """Kept apart from the graph so keys and the audit trail survive a graph reload."""
        return self.state_db or self.db.with_name("prexus-state.db")
