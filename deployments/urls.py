from django.urls import path

from deployments import views

app_name = "deployments"

urlpatterns = [
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
