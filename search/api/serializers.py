"""The search API's answer: the page's groups as JSON."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class HitSerializer(serializers.Serializer[Any]):
    title = serializers.CharField()
    url = serializers.CharField(help_text="The object's page (empty for a person in no team you may see).")
    detail = serializers.CharField(help_text="The line that tells it apart: e.g. team · cluster · status.")
    when = serializers.DateTimeField(allow_null=True, help_text="When a deployment started; null for other kinds.")


class GroupSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField(help_text="services, environments, deployments, clusters, regions, teams or people.")
    # DRF's metaclass takes declared fields off the class, so this does not replace Field.label at run time.
    label = serializers.CharField()  # type: ignore[assignment]
    count = serializers.IntegerField(source="total", help_text="How many match in all; at most 10 are listed.")
    more_url = serializers.CharField(help_text="The kind's list page filtered by the text, when it has one.")
    results = HitSerializer(many=True, source="hits")


class SearchResultsSerializer(serializers.Serializer[Any]):
    query = serializers.CharField(help_text="The text searched, stripped, its runs of spaces made one.")
    hint = serializers.CharField(help_text="Why nothing was searched (fewer than 2 characters); empty otherwise.")
    groups = GroupSerializer(many=True, help_text="Every kind, in a fixed order; empty when nothing was searched.")
