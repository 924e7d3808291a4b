"""JWT endpoints and who you are, under /api/auth/ (API tokens are registered on the API router as /api/tokens/)."""

from django.urls import path

from access.api import views

urlpatterns = [
    path("token/", views.JwtObtainView.as_view(), name="jwt-obtain"),
    path("token/refresh/", views.JwtRefreshView.as_view(), name="jwt-refresh"),
    path("token/revoke/", views.JwtRevokeView.as_view(), name="jwt-revoke"),
    path("me/", views.MeView.as_view(), name="me"),
]
