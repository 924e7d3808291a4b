from django.urls import path

from regions import views
from regions.failover import views as failover_views
from regions.preflight import views as preflight_views
from regions.residency import views as residency_views

app_name = "regions"

urlpatterns = [
    path("", views.region_list, name="list"),
    # Region provisioning first: "requests/…" would otherwise read as a provider and a region code.
    path("requests/", views.request_list, name="requests"),
    path("requests/new/", views.request_create, name="request_create"),
    path("requests/kubernetes-versions/", views.request_kubernetes_versions, name="request_kubernetes_versions"),
    path("requests/new/plan/", views.request_preview, name="request_preview"),
    path("requests/<int:pk>/", views.request_detail, name="request"),
    path("requests/<int:pk>/plan.json", views.request_plan_json, name="request_plan"),
    path("requests/<int:pk>/run/", views.request_run, name="request_run"),
    path("requests/<int:pk>/retry/", views.request_retry, name="request_retry"),
    path("requests/<int:pk>/rollback/", views.request_rollback, name="request_rollback"),
    path("requests/<int:pk>/cancel/", views.request_cancel, name="request_cancel"),
    path("residency/", residency_views.residency, name="residency"),
    path("zones/", residency_views.zones, name="zones"),
    # Failovers too, before the catch-alls: "failovers/1/" would read as a provider and a region code.
    path("failovers/<int:pk>/", failover_views.failover_detail, name="failover"),
    path("failovers/<int:pk>/run/", failover_views.failover_run, name="failover_run"),
    path("failovers/<int:pk>/retry/", failover_views.failover_retry, name="failover_retry"),
    path("failovers/<int:pk>/cancel/", failover_views.failover_cancel, name="failover_cancel"),
    # Cloud accounts and the shipped policies, before the catch-alls too ("accounts/1/" is no region).
    path("accounts/<int:pk>/", preflight_views.account_detail, name="account"),
    path("accounts/<int:pk>/check-access/", preflight_views.account_check_access, name="account_check_access"),
    path("policies/<str:name>", preflight_views.policy_file, name="policy_file"),
    path("<str:provider>/<str:code>/failover/", failover_views.failover_create, name="failover_create"),
    path("<str:provider>/<str:code>/", views.region_detail, name="detail"),
    path("<str:provider>/<str:code>/health/", views.region_health, name="health"),
    path("<str:provider>/<str:code>/health/check/", views.region_check, name="check"),
    path("<str:provider>/<str:code>/clusters/<str:name>/", views.cluster_detail, name="cluster"),
    path(
        "<str:provider>/<str:code>/clusters/<str:name>/check-access/",
        preflight_views.cluster_check_access,
        name="cluster_check_access",
    ),
]
