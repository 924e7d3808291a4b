"""What the portal tells a person: in the portal (a bell with the unread count) and, when configured, by e-mail."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Notification(models.Model):
    """One message to one person, about something they should look at (``url``)."""

    recipient = models.ForeignKey("access.User", on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=100, help_text="What happened, e.g. environments.approval_requested.")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True, help_text="The portal path to open.")
    key = models.CharField(
        max_length=200, blank=True, help_text="Telling someone the same thing twice (a retried task) is a no-op."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "key"], condition=~Q(key=""), name="unique_notification_key_per_recipient"
            )
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notification_inbox"),
            models.Index(fields=["recipient"], condition=Q(read_at__isnull=True), name="notification_unread"),
        ]

    def __str__(self) -> str:
        return f"{self.title} → {self.recipient}"
