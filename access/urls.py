from django.urls import path

from access import token_views

app_name = "access"

urlpatterns = [
    # API tokens
    path("tokens/", token_views.token_list, name="tokens"),
    path("tokens/<int:token_id>/revoke/", token_views.token_revoke, name="token_revoke"),
]
