# pg_trgm, for the trigram indexes and ranking of the portal's search. It is a trusted extension: the role that
# migrates creates it if it is a superuser or holds CREATE on the database (its owner does); on managed PostgreSQL
# an administrator may create it beforehand instead, and this step then leaves it as it is (docs/operations.md).

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [TrigramExtension()]
