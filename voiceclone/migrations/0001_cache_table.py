"""The database cache table (settings.CACHE_TABLE), so `migrate` alone prepares a deployment.

Created whatever CACHES says today: switching from Redis back to the database cache then needs no
extra step. `createcachetable` skips a table that exists.
"""

from django.core.management import call_command
from django.db import migrations

TABLE = "voiceclone_cache"


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", TABLE, database=schema_editor.connection.alias, verbosity=0)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = []

    operations = [migrations.RunPython(create_cache_table, drop_cache_table, elidable=False)]
