from django.urls import path

from costs import views
from costs.allocation import views as allocation_views
from costs.budgets import views as budget_views
from costs.savings import views as savings_views
from costs.sources import views as source_views

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
    path("allocation/clusters/<int:cluster_id>/", allocation_views.cluster_allocation_page, name="allocation"),
    path(
        "allocation/clusters/<int:cluster_id>/export.csv",
        allocation_views.cluster_allocation_export,
        name="allocation_export",
    ),
]

urlpatterns += [
    path("savings/", savings_views.savings_page, name="savings"),
    path("savings/export.csv", savings_views.savings_export, name="savings_export"),
    path("savings/<int:pk>/dismiss/", savings_views.savings_dismiss, name="savings_dismiss"),
    path("savings/<int:pk>/snooze/", savings_views.savings_snooze, name="savings_snooze"),
    path("savings/<int:pk>/set-ttl/", savings_views.savings_set_ttl, name="savings_set_ttl"),
    path("sources/", source_views.source_list, name="sources"),
    path("sources/new/", source_views.source_create, name="source_create"),
    path("sources/upload/", source_views.upload, name="upload"),
    path("sources/<int:pk>/edit/", source_views.source_edit, name="source_edit"),
    path("sources/<int:pk>/import/", source_views.source_import, name="source_import"),
    path("sources/rules/", source_views.rule_list, name="rules"),
    path("sources/rules/<int:pk>/delete/", source_views.rule_delete, name="rule_delete"),
    path("sources/rules/reattribute/", source_views.reattribute, name="reattribute"),
    path("budgets/", budget_views.budget_list, name="budgets"),
    path("budgets/new/", budget_views.budget_create, name="budget_create"),
    path("budgets/<int:pk>/", budget_views.budget_detail, name="budget"),
    path("budgets/<int:pk>/edit/", budget_views.budget_edit, name="budget_edit"),
    path("budgets/<int:pk>/delete/", budget_views.budget_delete, name="budget_delete"),
    path("anomalies/", budget_views.anomaly_list, name="anomalies"),
    path("teams/<slug:slug>/", budget_views.team_costs, name="team"),
    path("teams/<slug:slug>/export.csv", budget_views.team_costs_export, name="team_export"),
]
