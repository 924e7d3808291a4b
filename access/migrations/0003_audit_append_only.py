"""The audit log refuses UPDATE and DELETE: events are only ever appended.

TRUNCATE stays possible for the test suite's database flushes; the hash
chain (access.audit.services.verify_chain) still detects any edit made by someone who
can disable the trigger.
"""

from django.db import migrations

FORBID = """
CREATE FUNCTION access_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER access_auditevent_append_only
    BEFORE UPDATE OR DELETE ON access_auditevent
    FOR EACH ROW EXECUTE FUNCTION access_auditevent_append_only();
"""

ALLOW = """
DROP TRIGGER IF EXISTS access_auditevent_append_only ON access_auditevent;
DROP FUNCTION IF EXISTS access_auditevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("access", "0002_roles_grants_audit")]

    operations = [migrations.RunSQL(FORBID, ALLOW)]
