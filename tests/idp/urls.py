from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from tests.idp import views

urlpatterns = [
    # Before django-oauth-toolkit's own routes, which they stand in for (its URL names still reverse).
    path("o/authorize/", views.AuthorizationView.as_view()),
    re_path(r"^o/\.well-known/openid-configuration/?$", views.DiscoveryView.as_view()),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("login/", auth_views.LoginView.as_view(template_name="idp/login.html"), name="login"),
    path("control/identities", views.identities),
    path("control/clients", views.clients),
    path("control/behaviour", views.behaviour),
]
