"""The list queries of the Harbor API are index-backed: SQLite's plan for each, on the real schema,
reads the repository's rows through an index and sorts without a temporary B-tree."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.dialects import sqlite as sqlite_dialect

from berth.db.session import Database, run_migrations
from berth.services.artifacts import ArtifactService


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    path = tmp_path_factory.mktemp("plans") / "berth.db"
    run_migrations(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as db:
        db.execute("ANALYZE")
    return path


def plan(path, statement) -> str:  # type: ignore[no-untyped-def]
    sql = str(statement.compile(dialect=sqlite_dialect.dialect(), compile_kwargs={"literal_binds": True}))
    with sqlite3.connect(path) as db:
        return "\n".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}"))


@pytest.mark.parametrize("q,sort", [(None, None), ("tags=*", None), ("tags=nil", "-push_time"), (None, "push_time")])
def test_the_artifact_list_walks_the_repository_index_newest_first(schema, q, sort):
    service = ArtifactService(Database(f"sqlite+aiosqlite:///{schema}"), None, None, None)  # type: ignore[arg-type]
    text = plan(schema, service.list_query(7, q, sort).limit(100))
    assert "SEARCH manifests USING INDEX ix_manifests_repository_id_created_at_id" in text, text
    assert "TEMP B-TREE" not in text, text
    assert all("USING" in line for line in text.splitlines() if line.startswith(("SEARCH", "SCAN"))), text


def test_one_projects_repository_list_walks_its_index_newest_first(schema):
    from berth.services.repositories import RepositoryService

    text = plan(schema, RepositoryService.list_query({3}, None, None).limit(100))
    assert "SEARCH repositories USING INDEX ix_repositories_project_id_created_at_id" in text, text
    assert "TEMP B-TREE" not in text, text
    assert all("USING" in line for line in text.splitlines() if line.startswith(("SEARCH", "SCAN"))), text


@pytest.mark.parametrize("artifact_type,last", [(None, None), ("application/example", "sha256:" + "a" * 64)])
def test_a_referrers_page_walks_the_subject_index_in_digest_order(schema, artifact_type, last):
    from berth.references import parse_digest
    from berth.services.manifests import ManifestService

    subject = parse_digest("sha256:" + "0" * 64)
    text = plan(schema, ManifestService.referrers_query(7, subject, artifact_type, last).limit(101))
    assert "SEARCH manifests USING INDEX ix_manifests_repository_id_subject_digest_digest" in text, text
    assert "TEMP B-TREE" not in text, text
