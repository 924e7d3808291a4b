from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from portal import views

handler400 = "portal.views.bad_request"
handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    # Sign-in, sign-out, SSO and MFA are django-allauth's; the old sign-in address (bookmarks) redirects there.
    path("accounts/", include("access.account_urls")),
    path("sign-in/", RedirectView.as_view(pattern_name="account_login", query_string=True), name="login"),
    path("regions/", include("regions.urls")),
    path("access/", include("access.urls")),
    path("api/", include("portal.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # People open the docs in a browser: send them to sign in rather than answer 403.
    path("api/docs/", login_required(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"),
    path("admin/", admin.site.urls),
]
