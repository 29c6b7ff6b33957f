"""Graph schema, stores and analysis."""

from __future__ import annotations

from graph.settings import Settings
from graph.store import GraphStore


def open_store(settings: Settings | None = None) -> GraphStore:
    """The store the settings select: Neo4j when PREXUS_NEO4J_URI is set, else SQLite."""
    settings = settings or Settings()
    if settings.neo4j_uri:
        from graph.neo4j_store import Neo4jStore

        return Neo4jStore(
            settings.neo4j_uri,
            settings.neo4j_user,
            settings.neo4j_password.get_secret_value(),
            settings.neo4j_database,
        )
    from graph.sqlite_store import SQLiteStore

    return SQLiteStore(settings.db)
