from django.urls import path

from access import views
from access.audit import views as audit_views
from access.tokens import views as token_views

app_name = "access"

urlpatterns = [
    # Access administration and reviews.
    path("", views.overview, name="overview"),
    path("teams/", views.team_list, name="teams"),
    path("teams/new/", views.team_create, name="team_create"),
    path("teams/<int:pk>/", views.team_detail, name="team"),
    path("teams/<int:pk>/edit/", views.team_edit, name="team_edit"),
    path("teams/<int:pk>/members/", views.team_member_set, name="team_member_set"),
    path("teams/<int:pk>/members/<int:user_id>/role/", views.team_member_role, name="team_member_role"),
    path("teams/<int:pk>/members/<int:user_id>/remove/", views.team_member_remove, name="team_member_remove"),
    path("roles/", views.role_list, name="roles"),
    path("roles/new/", views.role_create, name="role_create"),
    path("roles/<int:pk>/edit/", views.role_edit, name="role_edit"),
    path("roles/<int:pk>/delete/", views.role_delete, name="role_delete"),
    path("grants/", views.grant_list, name="grants"),
    path("grants/new/", views.grant_create, name="grant_create"),
    path("grants/<int:pk>/", views.grant_detail, name="grant"),
    path("grants/<int:pk>/revoke/", views.grant_revoke, name="grant_revoke"),
    path("sso-rules/", views.sso_rule_list, name="sso_rules"),
    path("sso-rules/new/", views.sso_rule_create, name="sso_rule_create"),
    path("sso-rules/preview/", views.sso_rule_preview, name="sso_rule_preview"),
    path("sso-rules/<int:pk>/edit/", views.sso_rule_edit, name="sso_rule_edit"),
    path("sso-rules/<int:pk>/toggle/", views.sso_rule_toggle, name="sso_rule_toggle"),
    path("sso-rules/<int:pk>/delete/", views.sso_rule_delete, name="sso_rule_delete"),
    path("reviews/", views.review_list, name="reviews"),
    path("reviews/new/", views.review_open, name="review_open"),
    path("reviews/mine/", views.my_reviews, name="my_reviews"),
    path("reviews/<int:pk>/", views.review_detail, name="review"),
    path("reviews/<int:pk>/close/", views.review_close, name="review_close"),
    path("reviews/<int:pk>/evidence.csv", views.review_evidence_csv, name="review_evidence"),
    path("reviews/items/<int:pk>/decide/", views.review_item_decide, name="review_item_decide"),
    # The audit log (audit slice).
    path("audit/", audit_views.audit_log, name="audit"),
    path("audit/export.csv", audit_views.audit_export, name="audit-export"),
    path("audit/chain/", audit_views.audit_chain, name="audit-chain"),
    # API tokens
    path("tokens/", token_views.token_list, name="tokens"),
    path("tokens/<int:token_id>/revoke/", token_views.token_revoke, name="token_revoke"),
]
