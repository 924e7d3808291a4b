"""A notification as its recipient reads it by API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from notifications.models import Notification
from notifications.views import target_of


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    url = serializers.SerializerMethodField(help_text="The portal path it points at; empty when it points nowhere.")
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "url", "created_at", "read", "read_at"]
        read_only_fields = fields

    def get_url(self, notification: Notification) -> str:
        return target_of(notification)

    def get_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


class MarkedReadSerializer(serializers.Serializer[Any]):
    marked = serializers.IntegerField(help_text="How many notifications this call marked read (0 if none were unread).")
    unread = serializers.IntegerField(help_text="How many of your notifications are unread now.")
