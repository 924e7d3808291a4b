from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from deployments.hooks import views as hook_views
from portal import views
from search import views as search_views

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
    path("notifications/", include("notifications.urls")),
    path("approvals/", include("approvals.urls")),
    path("environments/", include("environments.urls")),
    path("deployments/", include("deployments.urls")),
    path("scorecards/", include("scorecards.urls")),
    path("costs/", include("costs.urls")),
    path("search/", search_views.search, name="search"),
    path("live/<slug:kind>/<int:pk>/", views.live_status, name="live_status"),
    # CI/CD systems post here; the webhook source's secret, not a session, authenticates them.
    path("hooks/<str:name>/", hook_views.receive, name="webhook"),
    path("api/", include("portal.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # People open the docs in a browser: send them to sign in rather than answer 403.
    # The split view serves Swagger UI's start-up script as a file, so the CSP needs no inline script.
    # Swagger UI sets inline styles as it renders; this page alone allows inline style (never script).
    path(
        "api/docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))
        ),
        name="api-docs",
    ),
    path("admin/", admin.site.urls),
]
