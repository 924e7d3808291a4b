from django.urls import path

from costs import allocation_views, views

app_name = "costs"

urlpatterns = [
    path("prices/", views.price_list, name="prices"),
    path("prices/new/", views.price_create, name="price_create"),
    path("prices/<int:pk>/edit/", views.price_edit, name="price_edit"),
    path("prices/<int:pk>/delete/", views.price_delete, name="price_delete"),
    path("allocation/clusters/<int:cluster_id>/", allocation_views.cluster_allocation_page, name="allocation"),
    path(
        "allocation/clusters/<int:cluster_id>/export.csv",
        allocation_views.cluster_allocation_export,
        name="allocation_export",
    ),
]
