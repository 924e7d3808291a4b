from django.contrib import admin

from regions.models import CentreServer, CloudAccount, Cluster, Namespace, NodePool, Region


@admin.register(CloudAccount)
class CloudAccountAdmin(admin.ModelAdmin[CloudAccount]):
    list_display = ["name", "provider", "external_id", "auth_method"]
    list_filter = ["provider", "auth_method"]
    search_fields = ["name", "external_id"]


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin[Region]):
    list_display = ["code", "display_name", "provider", "residency_zone", "status", "dr_partner"]
    list_filter = ["provider", "residency_zone", "status"]
    list_select_related = ["dr_partner"]
    search_fields = ["code", "display_name"]


class NodePoolInline(admin.TabularInline[NodePool, Cluster]):
    model = NodePool
    extra = 0


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin[Cluster]):
    list_display = ["name", "region", "kind", "kubernetes_version", "status"]
    list_filter = ["kind", "status", "region__residency_zone"]
    list_select_related = ["region"]
    inlines = [NodePoolInline]


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin[Namespace]):
    list_display = ["name", "cluster", "team"]
    list_filter = ["name"]
    list_select_related = ["cluster", "team"]


@admin.register(CentreServer)
class CentreServerAdmin(admin.ModelAdmin[CentreServer]):
    list_display = ["name", "site", "region", "status", "last_sync_at"]
    list_filter = ["status"]
    list_select_related = ["region"]
