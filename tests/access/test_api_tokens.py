"""Named API tokens: hashed at rest, scoped to a role on a team, expiring, revocable, audited."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.models import ApiToken, AuditEvent, Role, Team, User
from access.permissions import CHANGE, VIEW
from access.tokens import services
from portal.demo import Persona
from regions.models import Namespace, Region
from tests.factories import ApiTokenFactory, api_token_secret
from tests.helpers import queries_for

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo

PersonaOf = Callable[[Persona], User]
ClientFor = Callable[[Persona | None], Client]


def team(slug: str) -> Team:
    return Team.objects.get(slug=slug)


def role(slug: str) -> Role:
    return Role.objects.get(slug=slug)


def in_days(days: int) -> datetime:
    return timezone.now() + timedelta(days=days)


def bearer(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def create(owner: User, *, team_slug: str = "student-experience", role_slug: str = "developer", name: str = "ci"):
    return services.api_token_create(
        actor=owner, name=name, team=team(team_slug), role=role(role_slug), expires_at=in_days(30)
    )


# --- creating and revoking ------------------------------------------------------


def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(persona: PersonaOf) -> None:
    created = create(persona(Persona.DEVELOPER))

    stored = ApiToken.objects.get(pk=created.token.pk)
    assert created.secret.startswith(f"ppt_{stored.prefix}_")
    assert len(created.secret) > 40
    assert stored.secret_hash == hashlib.sha256(created.secret.encode()).hexdigest()
    assert created.secret.split("_", 2)[2] not in json.dumps(list(ApiToken.objects.values()), default=str)


def test_creating_a_token_is_audited_without_its_secret(persona: PersonaOf) -> None:
    created = create(persona(Persona.DEVELOPER))

    event = AuditEvent.objects.get(verb=audit.TOKEN_CREATED)
    assert event.actor == persona(Persona.DEVELOPER)
    assert event.object_id == str(created.token.pk)
    assert event.team == team("student-experience")
    assert event.after is not None
    assert event.after["prefix"] == created.token.prefix
    secret_part = created.secret.split("_", 2)[2]
    assert secret_part not in json.dumps([event.before, event.after, event.extra, event.object_repr])


def test_it_refuses_a_role_the_owner_does_not_hold_on_that_team(persona: PersonaOf) -> None:
    with pytest.raises(ValidationError) as refused:
        create(persona(Persona.DEVELOPER), team_slug="tutor-tools")

    message = refused.value.message_dict["role"][0]
    assert "you do not hold" in message
    assert "environments.request" in message
    assert not ApiToken.objects.exists()


def test_it_refuses_a_role_wider_than_the_owners_own(persona: PersonaOf) -> None:
    with pytest.raises(ValidationError) as refused:
        create(persona(Persona.DEVELOPER), role_slug="team_lead")

    assert "environments.approve" in refused.value.message_dict["role"][0]


@pytest.mark.parametrize(
    ("expires_at", "message"),
    [
        (None, "Every token expires"),
        (timezone.now() - timedelta(minutes=1), "must be in the future"),
        (timezone.now() + timedelta(days=366), "at most 365 days"),
    ],
    ids=["missing", "past", "too-far"],
)
def test_it_refuses_a_token_without_a_sane_expiry(persona: PersonaOf, expires_at, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        services.api_token_create(
            actor=persona(Persona.DEVELOPER),
            name="ci",
            team=team("student-experience"),
            role=role("developer"),
            expires_at=expires_at,
        )

    assert message in refused.value.message_dict["expires_at"][0]


def test_a_second_token_with_the_same_name_is_refused(persona: PersonaOf) -> None:
    create(persona(Persona.DEVELOPER))

    with pytest.raises(ValidationError) as refused:
        create(persona(Persona.DEVELOPER))

    assert "already have a token named" in refused.value.message_dict["name"][0]
    assert ApiToken.objects.count() == 1


def test_the_owner_revokes_a_token_once_and_repeating_it_changes_nothing(persona: PersonaOf) -> None:
    developer = persona(Persona.DEVELOPER)
    created = create(developer)

    services.api_token_revoke(actor=developer, token_id=created.token.pk)
    services.api_token_revoke(actor=developer, token_id=created.token.pk)

    created.token.refresh_from_db()
    assert created.token.revoked_at is not None
    assert AuditEvent.objects.filter(verb=audit.TOKEN_REVOKED, object_id=str(created.token.pk)).count() == 1


@pytest.mark.parametrize("who", [Persona.TEAM_LEAD, Persona.MANAGER, Persona.AUDITOR])
def test_someone_elses_token_is_missing_to_people_who_may_not_revoke_access(persona: PersonaOf, who: Persona) -> None:
    created = create(persona(Persona.DEVELOPER))

    with pytest.raises(Http404):
        services.api_token_revoke(actor=persona(who), token_id=created.token.pk)

    created.token.refresh_from_db()
    assert created.token.revoked_at is None


def test_a_platform_admin_may_revoke_anyones_token(persona: PersonaOf) -> None:
    created = create(persona(Persona.DEVELOPER))

    services.api_token_revoke(actor=persona(Persona.PLATFORM_ADMIN), token_id=created.token.pk)

    event = AuditEvent.objects.get(verb=audit.TOKEN_REVOKED)
    assert event.actor == persona(Persona.PLATFORM_ADMIN)


# --- authenticating with a token --------------------------------------------------


def test_a_developer_token_reads_its_teams_objects_and_nothing_of_another_team(persona: PersonaOf) -> None:
    developer = persona(Persona.DEVELOPER)
    created = create(developer)
    session = Client()
    session.force_login(developer)

    through_session = session.get("/api/namespaces/", {"page_size": 500}).json()["results"]
    through_token = bearer(created.secret).get("/api/namespaces/", {"page_size": 500}).json()["results"]

    own_team = team("student-experience").pk
    assert {namespace["team"] for namespace in through_session} > {own_team}
    assert through_token
    assert {namespace["team"] for namespace in through_token} == {own_team}
    other = Namespace.objects.exclude(team=own_team).first()
    assert other is not None
    assert bearer(created.secret).get(f"/api/namespaces/{other.pk}/").status_code == 404
    assert session.get(f"/api/namespaces/{other.pk}/").status_code == 200


def test_a_token_never_carries_more_than_its_role(persona: PersonaOf) -> None:
    admin = persona(Persona.PLATFORM_ADMIN)
    viewer = services.api_token_create(
        actor=admin, name="read only", team=team("core-platform"), role=role("viewer"), expires_at=in_days(1)
    )
    namespace = Namespace.objects.filter(team=team("core-platform")).first()
    assert namespace is not None
    assert policy.can(admin, CHANGE, namespace)

    admin.api_token = viewer.token  # type: ignore[attr-defined]  # as ApiTokenAuthentication sets it
    assert policy.can(admin, VIEW, namespace)
    assert not policy.can(admin, CHANGE, namespace)


def test_a_viewer_token_is_refused_a_write_its_owner_may_make(persona: PersonaOf) -> None:
    admin = persona(Persona.PLATFORM_ADMIN)
    viewer = services.api_token_create(
        actor=admin, name="read only", team=team("core-platform"), role=role("viewer"), expires_at=in_days(1)
    )
    everything = services.api_token_create(
        actor=admin, name="admin", team=team("core-platform"), role=role("platform_admin"), expires_at=in_days(1)
    )

    refused = bearer(viewer.secret).post("/api/regions/", {}, content_type="application/json")
    allowed = bearer(everything.secret).post("/api/regions/", {}, content_type="application/json")

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert allowed.status_code == 405  # past the policy; the inventory API is read-only


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"revoked_at": timezone.now()}, "token_revoked"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "token_expired"),
    ],
    ids=["revoked", "expired"],
)
def test_a_revoked_or_expired_token_is_refused_with_401(demo: None, change: dict, code: str) -> None:
    token = ApiTokenFactory.create(**change)

    response = bearer(api_token_secret(token)).get("/api/regions/")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "secret",
    ["ppt_00000000_wrong", "ppt_nonsense", "ppt_"],
    ids=["wrong-secret", "malformed", "empty"],
)
def test_a_token_that_does_not_match_is_refused_with_401(demo: None, secret: str) -> None:
    ApiTokenFactory.create(prefix="00000000")

    response = bearer(secret).get("/api/regions/")

    assert response.status_code == 401
    assert response.json()["error"] == {
        "status": 401,
        "code": "token_not_valid",
        "message": "The API token is not valid.",
    }


def test_a_deactivated_owners_token_is_refused(persona: PersonaOf) -> None:
    developer = persona(Persona.DEVELOPER)
    created = create(developer)
    developer.is_active = False
    developer.save(update_fields=["is_active"])

    response = bearer(created.secret).get("/api/namespaces/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "user_inactive"


def test_last_use_is_recorded_at_most_once_a_minute(persona: PersonaOf) -> None:
    created = create(persona(Persona.DEVELOPER))
    client = bearer(created.secret)

    client.get("/api/namespaces/", REMOTE_ADDR="192.0.2.10")
    first = ApiToken.objects.get(pk=created.token.pk)
    client.get("/api/namespaces/", REMOTE_ADDR="192.0.2.20")
    second = ApiToken.objects.get(pk=created.token.pk)
    ApiToken.objects.filter(pk=created.token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    client.get("/api/namespaces/", REMOTE_ADDR="192.0.2.30")
    third = ApiToken.objects.get(pk=created.token.pk)

    assert first.last_used_at is not None
    assert first.last_used_ip == "192.0.2.10"
    assert second.last_used_at == first.last_used_at
    assert second.last_used_ip == "192.0.2.10"
    assert third.last_used_ip == "192.0.2.30"


# --- the tokens API -----------------------------------------------------------------


def test_creating_a_token_through_the_api_answers_the_secret_once(client_for: ClientFor) -> None:
    client = client_for(Persona.DEVELOPER)

    response = client.post(
        "/api/tokens/",
        {"name": "pipeline", "team": "student-experience", "role": "developer", "expires_at": in_days(7).isoformat()},
        content_type="application/json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith(f"ppt_{body['prefix']}_")
    assert response.headers["Cache-Control"] == "no-store"
    listed = client.get("/api/tokens/").json()["results"]
    assert [token["name"] for token in listed] == ["pipeline"]
    assert "token" not in listed[0]
    assert bearer(body["token"]).get("/api/namespaces/").status_code == 200


def test_a_refused_role_is_a_structured_api_error(client_for: ClientFor) -> None:
    response = client_for(Persona.DEVELOPER).post(
        "/api/tokens/",
        {"name": "pipeline", "team": "tutor-tools", "role": "developer", "expires_at": in_days(7).isoformat()},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "you do not hold" in response.json()["error"]["fields"]["role"][0]


def test_an_api_token_cannot_create_another_token(persona: PersonaOf) -> None:
    created = create(persona(Persona.DEVELOPER))

    response = bearer(created.secret).post(
        "/api/tokens/",
        {"name": "longer", "team": "student-experience", "role": "developer", "expires_at": in_days(300).isoformat()},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert ApiToken.objects.count() == 1


def test_revoking_through_the_api_stops_the_token_at_once(persona: PersonaOf, client_for: ClientFor) -> None:
    created = create(persona(Persona.DEVELOPER))
    client = client_for(Persona.DEVELOPER)

    first = client.delete(f"/api/tokens/{created.token.pk}/")
    again = client.delete(f"/api/tokens/{created.token.pk}/")

    assert first.status_code == 200
    assert first.json()["revoked_at"] is not None
    assert again.status_code == 200
    assert bearer(created.secret).get("/api/namespaces/").status_code == 401


def test_another_persons_token_is_missing_from_the_api(persona: PersonaOf, client_for: ClientFor) -> None:
    created = create(persona(Persona.DEVELOPER))

    response = client_for(Persona.TEAM_LEAD).delete(f"/api/tokens/{created.token.pk}/")

    assert response.status_code == 404
    assert client_for(Persona.TEAM_LEAD).get("/api/tokens/").json()["results"] == []


# --- the tokens page ----------------------------------------------------------------


def test_every_page_links_to_the_tokens_page(client_for: ClientFor) -> None:
    response = client_for(Persona.AUDITOR).get("/")

    assert b'href="/access/tokens/">API tokens</a>' in response.content


def test_the_page_creates_a_token_and_shows_its_secret_once(client_for: ClientFor) -> None:
    client = client_for(Persona.DEVELOPER)
    team_id = team("student-experience").pk
    role_id = role("developer").pk
    expires_on = (timezone.localdate() + timedelta(days=30)).isoformat()

    created = client.post(
        "/access/tokens/", {"name": "deploy", "team": team_id, "role": role_id, "expires_on": expires_on}
    )
    later = client.get("/access/tokens/")

    token = ApiToken.objects.get(name="deploy")
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    assert f"ppt_{token.prefix}_".encode() in created.content
    assert b"shown only this once" in created.content
    assert b"shown only this once" not in later.content
    assert f"ppt_{token.prefix}_\u2026".encode() in later.content


def test_the_page_explains_a_refused_role_and_keeps_the_input(client_for: ClientFor) -> None:
    response = client_for(Persona.DEVELOPER).post(
        "/access/tokens/",
        {
            "name": "deploy tutors",
            "team": team("tutor-tools").pk,
            "role": role("developer").pk,
            "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
        },
    )

    assert response.status_code == 400
    assert b"you do not hold" in response.content
    assert b'value="deploy tutors"' in response.content
    assert not ApiToken.objects.exists()


def test_the_page_revokes_after_confirmation(persona: PersonaOf, client_for: ClientFor) -> None:
    created = create(persona(Persona.DEVELOPER), name="old pipeline")
    client = client_for(Persona.DEVELOPER)

    confirmation = client.get(f"/access/tokens/{created.token.pk}/revoke/")
    revoked = client.post(f"/access/tokens/{created.token.pk}/revoke/", follow=True)

    assert b"Revoke token" in confirmation.content
    assert revoked.redirect_chain == [("/access/tokens/", 302)]
    assert "“old pipeline” is revoked".encode() in revoked.content
    created.token.refresh_from_db()
    assert created.token.revoked_at is not None


def test_an_api_token_may_not_be_used_to_mint_one_through_the_service(persona: PersonaOf) -> None:
    developer = persona(Persona.DEVELOPER)
    developer.api_token = create(developer).token  # type: ignore[attr-defined]

    with pytest.raises(PermissionDenied):
        create(developer, name="another")


@pytest.mark.parametrize("path", ["/api/tokens/", "/access/tokens/"])
def test_the_token_lists_do_not_grow_queries_with_more_tokens(persona: PersonaOf, path: str) -> None:
    developer = persona(Persona.DEVELOPER)
    client = Client()
    client.force_login(developer)
    ApiTokenFactory.create(owner=developer)
    queries_for(client, path)
    before = queries_for(client, path)

    ApiTokenFactory.create_batch(10, owner=developer)

    assert queries_for(client, path) == before


def test_a_token_request_runs_no_write_when_used_again_within_the_minute(persona: PersonaOf) -> None:
    created = create(persona(Persona.DEVELOPER))
    client = bearer(created.secret)
    client.get("/api/namespaces/")

    with CaptureQueriesContext(connection) as captured:
        client.get("/api/namespaces/")

    assert not [query for query in captured.captured_queries if query["sql"].lstrip().upper().startswith("UPDATE")]


def test_a_teams_token_still_reads_the_shared_inventory_that_belongs_to_no_team(persona: PersonaOf) -> None:
    created = create(persona(Persona.DEVELOPER))

    response = bearer(created.secret).get("/api/regions/", {"page_size": "500"})

    assert response.status_code == 200
    assert response.json()["count"] == Region.objects.count() > 0
