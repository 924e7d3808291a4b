from django.urls import path

from environments import views

app_name = "environments"

urlpatterns = [
    path("templates/", views.template_list, name="templates"),
    path("templates/new/", views.template_create, name="template_create"),
    path("templates/<slug:slug>/", views.template_detail, name="template"),
    path("templates/<slug:slug>/edit/", views.template_edit, name="template_edit"),
    path("templates/<slug:slug>/deactivate/", views.template_deactivate, name="template_deactivate"),
    path("team-limits/", views.team_limits_list, name="team_limits"),
    path("team-limits/<slug:slug>/", views.team_limits_edit, name="team_limits_edit"),
]
