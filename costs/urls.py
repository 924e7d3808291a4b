from django.urls import path

from costs import budget_views, views

app_name = "costs"

urlpatterns = [
    path("prices/", views.price_list, name="prices"),
    path("prices/new/", views.price_create, name="price_create"),
    path("prices/<int:pk>/edit/", views.price_edit, name="price_edit"),
    path("prices/<int:pk>/delete/", views.price_delete, name="price_delete"),
    path("budgets/", budget_views.budget_list, name="budgets"),
    path("budgets/new/", budget_views.budget_create, name="budget_create"),
    path("budgets/<int:pk>/", budget_views.budget_detail, name="budget"),
    path("budgets/<int:pk>/edit/", budget_views.budget_edit, name="budget_edit"),
    path("budgets/<int:pk>/delete/", budget_views.budget_delete, name="budget_delete"),
    path("anomalies/", budget_views.anomaly_list, name="anomalies"),
    path("teams/<slug:slug>/", budget_views.team_costs, name="team"),
    path("teams/<slug:slug>/export.csv", budget_views.team_costs_export, name="team_export"),
]
