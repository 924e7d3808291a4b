from django.urls import path

from environments import views

app_name = "environments"

urlpatterns = [
    path("", views.environment_list, name="list"),
    path("new/", views.environment_request, name="request"),
    path("new/check/", views.environment_check, name="request_check"),
    path("<int:pk>/", views.environment_detail, name="detail"),
    path("<int:pk>/run/", views.environment_run, name="run"),
    path("<int:pk>/teardown/", views.environment_teardown, name="teardown"),
    path("<int:pk>/cancel/", views.environment_cancel, name="cancel"),
    path("<int:pk>/retry/", views.environment_retry, name="retry"),
    path("<int:pk>/extend/", views.environment_extend, name="extend"),
    path("templates/", views.template_list, name="templates"),
    path("templates/new/", views.template_create, name="template_create"),
    path("templates/<slug:slug>/", views.template_detail, name="template"),
    path("templates/<slug:slug>/edit/", views.template_edit, name="template_edit"),
    path("templates/<slug:slug>/deactivate/", views.template_deactivate, name="template_deactivate"),
    path("team-limits/", views.team_limits_list, name="team_limits"),
    path("team-limits/<slug:slug>/", views.team_limits_edit, name="team_limits_edit"),
]
