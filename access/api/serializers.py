from __future__ import annotations

from typing import Any

from rest_framework import serializers

from access.api.fields import VisibleSlugRelatedField
from access.models import ApiToken, Role, Team


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    """A token as its owner sees it: never its secret, which is not stored."""

    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    role: serializers.SlugRelatedField[Role] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id", "name", "prefix", "team", "role", "created_at", "expires_at",
            "revoked_at", "last_used_at", "last_used_ip", "is_active",
        ]  # fmt: skip
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    team = VisibleSlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    # Every role is offered to everyone making a token (the tokens page lists them all); which one a
    # token may carry is the service's check (what its owner holds on the team).
    role = serializers.SlugRelatedField(slug_field="slug", queryset=Role.objects.all())
    expires_at = serializers.DateTimeField(help_text="Required; at most PORTAL_API_TOKEN_MAX_DAYS days ahead.")


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    """The answer to a create: the token, and its secret this one time."""

    token = serializers.CharField(read_only=True, help_text="The secret. Shown only now; store it safely.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class JwtPairSerializer(serializers.Serializer[Any]):
    """An access and a refresh token."""

    access = serializers.CharField(read_only=True)
    refresh = serializers.CharField(read_only=True)


class JwtObtainSerializer(serializers.Serializer[Any]):
    """Username and password of a local account (and its two-factor code, if it has MFA);
    not needed when the call comes with a signed-in session."""

    username = serializers.CharField(write_only=True, max_length=150)
    # As the sign-in form takes it: spaces are part of a password.
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})
    code = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="The current code of the account's authenticator app, or an unused recovery code: "
        "required when the account has two-factor authentication.",
    )


class JwtRevokeSerializer(serializers.Serializer[Any]):
    refresh = serializers.CharField(help_text="A refresh token of the person signing out.")
    all = serializers.BooleanField(
        default=False, help_text="Also revoke every other refresh token of that person (every API client)."
    )


class JwtRevokedSerializer(serializers.Serializer[Any]):
    revoked = serializers.IntegerField(read_only=True, help_text="How many refresh tokens were revoked.")


class TeamPlaceSerializer(serializers.Serializer[Any]):
    slug = serializers.CharField(source="team.slug")
    name = serializers.CharField(source="team.name")
    membership = serializers.CharField(help_text="member or lead.")
    token_roles = serializers.ListField(
        child=serializers.CharField(), help_text="The roles (slugs) a token of yours may carry on this team."
    )


class MeSerializer(serializers.Serializer[Any]):
    """Who is signed in: the account, whether it counts as a platform admin, its teams, and the token in use."""

    username = serializers.CharField(source="user.username")
    name = serializers.CharField(source="user.display_name")
    platform_admin = serializers.BooleanField()
    teams = TeamPlaceSerializer(many=True)
    token = ApiTokenSerializer(allow_null=True, help_text="The API token this call came with; null otherwise.")
