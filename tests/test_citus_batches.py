"""How tenant DDL is cut into the texts sent to a Citus coordinator (no database needed).

tests/test_citus.py proves on a real cluster that Citus accepts these texts and distributes every
table; this checks the cutting itself on the real head DDL of the core and of every service.
"""

from __future__ import annotations

import pytest

from localgov.platform.citus import citus_batches
from localgov.platform.installation import installed
from localgov.platform.provisioning import head_statements, service_statements


def test_runs_of_create_statements_share_a_text_and_an_alter_goes_alone() -> None:
    statements = [
        "CREATE TABLE a (id INTEGER NOT NULL, CONSTRAINT pk_a PRIMARY KEY (id))",
        "CREATE UNIQUE INDEX uq_a ON a (id)",
        "ALTER TABLE a ADD CONSTRAINT fk_a_b FOREIGN KEY(id) REFERENCES b (id)",
        "create index ix_a ON a (id)",
        "INSERT INTO alembic_version (version_num) VALUES ('0001')",
        "COMMENT ON TABLE a IS 'x'",
    ]
    assert citus_batches(statements) == [
        f"{statements[0]};\n{statements[1]}",
        statements[2],
        f"{statements[3]};\n{statements[4]}",
        statements[5],
    ]
    assert citus_batches([]) == []


@pytest.mark.parametrize("history", ["core", *sorted(p.slug for p in installed().plugins if p.migrations is not None)])
def test_a_tenant_schema_at_head_is_a_few_texts_holding_every_statement_once(history: str) -> None:
    if history == "core":
        statements = list(head_statements())
    else:
        (plugin,) = [p for p in installed().plugins if p.slug == history]
        statements = list(service_statements(plugin))
    batches = citus_batches(statements)
    # Nothing lost, nothing reordered: the texts are the statements in order.
    assert ";\n".join(batches) == ";\n".join(statements)
    alters = [s for s in statements if s.startswith("ALTER")]
    assert [b for b in batches if b.startswith("ALTER")] == alters
    # One text per run between ALTERs: a handful, not one per statement.
    assert len(batches) <= 2 * len(alters) + 1
    assert len(batches) < len(statements)
