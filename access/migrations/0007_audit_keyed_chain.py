"""The audit chain is keyed, and TRUNCATE is refused like UPDATE and DELETE.

- ``key_id`` names the audit key that signed an event (access.audit.keys). Rows
  written before have none: their hash stays the plain SHA-256 they were
  written with, so hashes already exported (CSV) still match.
- A statement-level trigger refuses TRUNCATE (a TRUNCATE skips row triggers),
  also when it arrives by cascade from another table.
- Both triggers fire ALWAYS, so a session in ``session_replication_role =
  replica`` does not skip them either.
- An installation that already has events gets one keyed ``audit.chain_keyed``
  event linked to the newest of them: the unkeyed events are sealed, and no
  unkeyed event may follow (access.audit.services.verify_chain). This needs the audit
  key of the settings (PORTAL_AUDIT_KEYS), as every later event does.
"""

from django.db import migrations, models

REFUSE_TRUNCATE = """
CREATE TRIGGER access_auditevent_no_truncate
    BEFORE TRUNCATE ON access_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION access_auditevent_append_only();
ALTER TABLE access_auditevent ENABLE ALWAYS TRIGGER access_auditevent_no_truncate;
ALTER TABLE access_auditevent ENABLE ALWAYS TRIGGER access_auditevent_append_only;
"""

ALLOW_TRUNCATE = """
ALTER TABLE access_auditevent ENABLE TRIGGER access_auditevent_append_only;
DROP TRIGGER IF EXISTS access_auditevent_no_truncate ON access_auditevent;
"""


def seal_unkeyed_events(apps, schema_editor):
    from access.audit import services as audit

    audit.unkeyed_chain_seal(model=apps.get_model("access", "AuditEvent"))


class Migration(migrations.Migration):
    dependencies = [("access", "0006_team_zone_help")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(blank=True, db_default="", default="", max_length=16),
        ),
        migrations.RunSQL(REFUSE_TRUNCATE, ALLOW_TRUNCATE),
        migrations.RunPython(seal_unkeyed_events, migrations.RunPython.noop),
    ]
