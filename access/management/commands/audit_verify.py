"""``manage.py audit_verify``: verify the audit log now, from a shell or a scheduler of your own.

The same verification as the page's "Verify now" and beat's schedule
(access.audit.tasks): the whole chain, the newest signed checkpoint, then a
new checkpoint; the result is stored for the audit page too. Exits 1 when
the log does not verify or no checkpoint could be written.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from access.audit import tasks as audit_tasks


class Command(BaseCommand):
    help = (
        "Verify the audit log's chain and its newest signed checkpoint, write a new checkpoint, and store "
        "the result for the audit page. Exits 1 when it does not verify."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_tasks.chain_verify_and_store()
        events = f"{result['events']} event{'' if result['events'] == 1 else 's'}"
        if not result["verified"]:
            where = f" at event #{result['first_bad_event']}" if result["first_bad_event"] else ""
            raise CommandError(f"The audit log does not verify{where}: {result['problem']}.", returncode=1)
        if result["checkpoint_error"]:
            raise CommandError(f"The audit log verifies ({events}), but {result['checkpoint_error']}.")
        checkpoint = result["checkpoint"]
        anchored = f"; checkpoint at event #{checkpoint['event_id']}" if checkpoint else ""
        self.stdout.write(f"The audit log verifies: {events}{anchored}.")
