"""The rollups' version: a sequence that moves whenever the rollups, or the names the reports show, change."""

from django.db import migrations

# After every statement that changes rollups (whatever wrote it, however many rows), and every change of a team's
# or a service's name (the reports show them): the next value of a sequence. A sequence is never locked by a
# transaction and never goes back, so writers never wait on each other for it and a number is never used twice.
FORWARD = """
CREATE SEQUENCE costs_rollup_generation;
CREATE FUNCTION costs_rollups_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('costs_rollup_generation');
    RETURN NULL;
END
$$;
CREATE TRIGGER costs_rollups_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON costs_costrollup
    FOR EACH STATEMENT EXECUTE FUNCTION costs_rollups_changed();
CREATE TRIGGER costs_team_renamed AFTER UPDATE OF name ON access_team
    FOR EACH STATEMENT EXECUTE FUNCTION costs_rollups_changed();
CREATE TRIGGER costs_service_renamed AFTER UPDATE OF name ON deployments_service
    FOR EACH STATEMENT EXECUTE FUNCTION costs_rollups_changed();
"""

REVERSE = """
DROP TRIGGER costs_service_renamed ON deployments_service;
DROP TRIGGER costs_team_renamed ON access_team;
DROP TRIGGER costs_rollups_changed ON costs_costrollup;
DROP FUNCTION costs_rollups_changed();
DROP SEQUENCE costs_rollup_generation;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("costs", "0009_line_items_for_bulk_loads"),
        ("access", "0010_free_text_bounded"),
        ("deployments", "0007_deployment_list_order_index"),
    ]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
