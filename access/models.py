"""Users, teams and memberships.

The full policy model (roles, scoped grants, SSO mappings, tokens, audit) is
built on top of these in the access issue; until then a user's persona and
team memberships are what :mod:`access.policy` decides on.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class Persona(models.TextChoices):
    """What a person mainly comes to the portal to do (DESIGN.md, "Who uses it")."""

    DEVELOPER = "developer", "Developer"
    TEAM_LEAD = "team_lead", "Team lead"
    MANAGER = "manager", "Manager"
    PLATFORM_ADMIN = "platform_admin", "Platform admin"
    AUDITOR = "auditor", "Auditor"


class User(AbstractUser):
    """A person who signs in to the portal."""

    persona = models.CharField(max_length=32, choices=Persona.choices, default=Persona.DEVELOPER)

    class Meta:
        ordering = ["username"]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class Team(models.Model):
    """A group of people who own environments, services and spend."""

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(User, through="Membership", related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's place in a team."""

    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        LEAD = "lead", "Lead"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="unique_team_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.get_role_display()})"
