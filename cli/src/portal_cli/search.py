"""``portal search``: what the portal's search box finds, only what you may see."""

from __future__ import annotations

import click

from portal_cli import output
from portal_cli.context import json_option, session

KINDS = ["services", "environments", "deployments", "clusters", "regions", "teams", "people"]


@click.command()
@click.argument("query")
@click.option("--kind", type=click.Choice(KINDS), multiple=True, help="Only this kind (repeat for several).")
@json_option
def search(query: str, kind: tuple[str, ...]) -> None:
    """Services, environments, deployments (by version), clusters, regions, teams and people matching QUERY.

    At most 10 of each kind, best first, with how many match in all (the rest: the kind's list page).
    """
    state = session()
    with state.client() as client:
        answer = client.get("/api/search/", {"q": query})
    groups = [group for group in answer.get("groups") or [] if not kind or group.get("kind") in kind]
    if state.json_output:
        output.print_json({**answer, "groups": groups})
        return
    if answer.get("hint"):
        output.say(str(answer["hint"]))
        return
    found = [group for group in groups if group.get("count")]
    if not found:
        output.say(f"Nothing matches “{answer.get('query')}”.")
        return
    for group in found:
        shown = len(group.get("results") or [])
        more = f", {shown} shown" if shown < (group.get("count") or 0) else ""
        output.table(
            ["name", "detail", "page"],
            ([hit.get("title"), hit.get("detail"), hit.get("url")] for hit in group.get("results") or []),
            title=f"{group.get('label')} ({group.get('count')}{more})",
        )
