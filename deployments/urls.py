from django.urls import path

from deployments import views
from deployments.hooks import views as hook_views
from deployments.live import views as live_views
from deployments.rollbacks import views as rollback_views

app_name = "deployments"

urlpatterns = [
    path("workloads/<int:pk>/rollback/", rollback_views.rollback_new, name="rollback_new"),
    # A workload's Kubernetes panel (pods, events) and its containers' logs, read from the cluster on demand.
    path("workloads/<int:pk>/kubernetes/", live_views.workload_kubernetes, name="workload_kubernetes"),
    path("workloads/<int:pk>/kubernetes/logs/", live_views.workload_log, name="workload_log"),
    path("rollbacks/", rollback_views.rollback_list, name="rollbacks"),
    path("rollbacks/<int:pk>/", rollback_views.rollback_detail, name="rollback"),
    path("rollbacks/<int:pk>/run/", rollback_views.rollback_run, name="rollback_run"),
    path("rollbacks/<int:pk>/retry/", rollback_views.rollback_retry, name="rollback_retry"),
    path("rollbacks/<int:pk>/cancel/", rollback_views.rollback_cancel, name="rollback_cancel"),
    path("freezes/", rollback_views.freeze_list, name="freezes"),
    path("freezes/<int:pk>/end/", rollback_views.freeze_end, name="freeze_end"),
    path("dora/", views.dora_metrics, name="dora"),
    path("clusters/<int:pk>/sync/", views.cluster_sync, name="cluster_sync"),
    # CI/CD webhook sources (the endpoint CI systems post to is /hooks/<name>/, in portal/urls.py).
    path("hooks/", hook_views.source_list, name="hooks"),
    path("hooks/new/", hook_views.source_create, name="hook_create"),
    path("hooks/<int:pk>/rotate/", hook_views.source_rotate, name="hook_rotate"),
    path("hooks/<int:pk>/deactivate/", hook_views.source_deactivate, name="hook_deactivate"),
    path("hooks/<int:pk>/services/", hook_views.source_services, name="hook_services"),
    path("", views.matrix, name="list"),
    path("<int:pk>/", views.deployment_detail, name="detail"),
    path("services/", views.service_list, name="services"),
    path("services/new/", views.service_create, name="service_create"),
    path("services/<slug:slug>/", views.service_detail, name="service"),
    path("services/<slug:slug>/edit/", views.service_edit, name="service_edit"),
    path("services/<slug:slug>/delete/", views.service_delete, name="service_delete"),
    path("unmatched/", views.unmatched, name="unmatched"),
    path("workloads/<int:pk>/claim/", views.workload_claim, name="workload_claim"),
]
