from django.urls import path

from access import audit_views

app_name = "access"

urlpatterns = [
    # The audit log (audit slice).
    path("audit/", audit_views.audit_log, name="audit"),
    path("audit/export.csv", audit_views.audit_export, name="audit-export"),
    path("audit/chain/", audit_views.audit_chain, name="audit-chain"),
]
