from django.urls import path

from access import audit_views, token_views

app_name = "access"

urlpatterns = [
    # The audit log (audit slice).
    path("audit/", audit_views.audit_log, name="audit"),
    path("audit/export.csv", audit_views.audit_export, name="audit-export"),
    path("audit/chain/", audit_views.audit_chain, name="audit-chain"),
    # API tokens
    path("tokens/", token_views.token_list, name="tokens"),
    path("tokens/<int:token_id>/revoke/", token_views.token_revoke, name="token_revoke"),
]
