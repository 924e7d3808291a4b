from django.urls import path

from costs import views

app_name = "costs"

urlpatterns = [
    path("", views.cost_overview, name="overview"),
    path("breakdown/", views.cost_breakdown, name="breakdown"),
    path("breakdown/export/", views.cost_export, name="export"),
    path("environments/<int:pk>/", views.environment_cost, name="environment_cost"),
    path("prices/", views.price_list, name="prices"),
    path("prices/new/", views.price_create, name="price_create"),
    path("prices/<int:pk>/edit/", views.price_edit, name="price_edit"),
    path("prices/<int:pk>/delete/", views.price_delete, name="price_delete"),
]
