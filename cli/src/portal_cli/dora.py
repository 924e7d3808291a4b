"""``portal deploy dora``: the four DORA metrics of the production deployments you may see.

The command joins the ``deploy`` group in :mod:`portal_cli.main`.
"""

from __future__ import annotations

from typing import Any

import click

from portal_cli import output
from portal_cli.context import json_option, session


def duration(seconds: Any) -> str:
    """Seconds in the largest units that say it (``2 d 3 h``, ``45 min``); "—" when there is nothing to measure."""
    if seconds is None:
        return "—"
    whole = int(float(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{whole} s"


@click.command()
@click.option("--team", help="Only this team's deployments (slug).")
@click.option("--service", help="Only this service's deployments (slug).")
@click.option(
    "--days", type=click.IntRange(1, 730), default=30, show_default=True, help="How many days back, to today."
)
@json_option
def dora(team: str | None, service: str | None, days: int) -> None:
    """Deployment frequency, lead time, change failure rate and time to restore, over --days."""
    state = session()
    params: dict[str, Any] = {"team": team, "service": service, "days": days}
    with state.client() as client:
        answer = client.get("/api/dora/", {name: value for name, value in params.items() if value})
    if state.json_output:
        output.print_json(answer)
        return
    rate = answer.get("change_failure_rate")
    output.fields(
        [
            ("from", answer.get("start")),
            ("to (not included)", answer.get("end")),
            ("deployments", f"{answer.get('deployments')} ({answer.get('deployments_per_day')} a day)"),
            ("lead time (median)", duration(answer.get("lead_time_seconds"))),
            (
                "change failure rate",
                "—" if rate is None else f"{float(rate) * 100:.1f} % ({answer.get('failures')} failed)",
            ),
            (
                "time to restore (median)",
                f"{duration(answer.get('time_to_restore_seconds'))} ({answer.get('restored')} restored)",
            ),
        ]
    )


COMMANDS = [dora]
