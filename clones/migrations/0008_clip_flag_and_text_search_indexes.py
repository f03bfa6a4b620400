"""PostgreSQL-only indexes for the clip changelist at a million clips (issue 13 item 4, docs/scale.md).

- `clip_quality_flags_gin`: GIN (jsonb_path_ops) on `quality_flags`, for the flag filter's `@>` containment.
- `clip_text_upper_trgm`: pg_trgm GIN on `UPPER(text)`, the expression Django's `icontains` compares on
  PostgreSQL, so a text search reads the matching rows instead of every clip.

Built CONCURRENTLY (the migration is not atomic), so a live table keeps taking writes. SQLite and other
databases skip both: their filters and searches work the same, without these indexes.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = {
    "clip_quality_flags_gin": "USING gin (quality_flags jsonb_path_ops)",
    "clip_text_upper_trgm": "USING gin (UPPER(text) gin_trgm_ops)",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, spec in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON clones_clipsample {spec}")
    # Statistics of the indexed expression UPPER(text) exist only after an ANALYZE: without them the
    # planner guesses that a common word matches a few rows and reads them all through the trigram index
    # (4 s at a million clips) instead of walking the newest clips until a page is full.
    schema_editor.execute("ANALYZE clones_clipsample")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("clones", "0007_clip_selection_pool_index"),
    ]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
