from django.urls import path

from deployments import hook_views

app_name = "deployments"

urlpatterns = [
    # CI/CD webhook sources (the endpoint CI systems post to is /hooks/<name>/, in portal/urls.py).
    path("hooks/", hook_views.source_list, name="hooks"),
    path("hooks/new/", hook_views.source_create, name="hook_create"),
    path("hooks/<int:pk>/rotate/", hook_views.source_rotate, name="hook_rotate"),
    path("hooks/<int:pk>/deactivate/", hook_views.source_deactivate, name="hook_deactivate"),
]
