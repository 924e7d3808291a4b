"""Read API of environment templates; the list is scoped by the policy."""

from __future__ import annotations

from environments import filtersets, selectors
from environments.api import serializers
from environments.models import EnvironmentTemplate
from portal.api.viewsets import ScopedReadOnlyViewSet


class EnvironmentTemplateViewSet(ScopedReadOnlyViewSet):
    selector = selectors.template_list
    queryset = EnvironmentTemplate.objects.all()
    serializer_class = serializers.EnvironmentTemplateSerializer
    filterset_class = filtersets.TemplateFilterSet
