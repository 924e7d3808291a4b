from django.urls import path

from costs import source_views, views

app_name = "costs"

urlpatterns = [
    path("prices/", views.price_list, name="prices"),
    path("prices/new/", views.price_create, name="price_create"),
    path("prices/<int:pk>/edit/", views.price_edit, name="price_edit"),
    path("prices/<int:pk>/delete/", views.price_delete, name="price_delete"),
    path("sources/", source_views.source_list, name="sources"),
    path("sources/new/", source_views.source_create, name="source_create"),
    path("sources/upload/", source_views.upload, name="upload"),
    path("sources/<int:pk>/edit/", source_views.source_edit, name="source_edit"),
    path("sources/<int:pk>/import/", source_views.source_import, name="source_import"),
    path("sources/rules/", source_views.rule_list, name="rules"),
    path("sources/rules/<int:pk>/delete/", source_views.rule_delete, name="rule_delete"),
    path("sources/rules/reattribute/", source_views.reattribute, name="reattribute"),
]
