"""One router for the whole REST API; each app registers its viewsets here."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from access.api import views as access_api
from approvals.api import views as approvals_api
from costs.api import budgets as costs_budgets_api
from costs.api import savings as costs_savings_api
from costs.api import sources as costs_sources_api
from costs.api import views as costs_api
from deployments.api import actions as deployments_actions_api
from deployments.api import hooks as deployments_hooks_api
from deployments.api import views as deployments_api
from environments.api import views as environments_api
from notifications.api import views as notifications_api
from regions.api import views as regions_api
from scorecards.api import views as scorecards_api
from search.api import views as search_api
from workflows.api import views as workflows_api

router = DefaultRouter()
router.register("cloud-accounts", regions_api.CloudAccountViewSet)
# Before "regions": its detail route would otherwise take "failovers" for a region's id.
router.register("regions/failovers", regions_api.FailoverRequestViewSet)
router.register("regions", regions_api.RegionViewSet)
router.register("clusters", regions_api.ClusterViewSet)
router.register("node-pools", regions_api.NodePoolViewSet)
router.register("namespaces", regions_api.NamespaceViewSet)
router.register("centre-servers", regions_api.CentreServerViewSet)
router.register("region-requests", regions_api.RegionRequestViewSet)
router.register("environment-templates", environments_api.EnvironmentTemplateViewSet)
router.register("environments", environments_api.EnvironmentViewSet)
router.register("prices", costs_api.PriceItemViewSet)
router.register("cost-sources", costs_sources_api.CostSourceViewSet)
router.register("attribution-rules", costs_sources_api.AttributionRuleViewSet)
router.register("budgets", costs_budgets_api.BudgetViewSet)
router.register("cost-anomalies", costs_budgets_api.AnomalyViewSet)
router.register("savings", costs_savings_api.SavingsViewSet, basename="savings")
router.register("tokens", access_api.ApiTokenViewSet, basename="apitoken")
router.register("rollbacks", deployments_actions_api.RollbackViewSet)
router.register("freeze-windows", deployments_actions_api.FreezeWindowViewSet)
router.register("services", deployments_api.ServiceViewSet)
router.register("workloads", deployments_api.WorkloadViewSet)
router.register("deployments", deployments_api.DeploymentViewSet)
router.register("pipeline-runs", deployments_api.PipelineRunViewSet)
router.register("webhook-sources", deployments_hooks_api.WebhookSourceViewSet)
router.register("scorecards", scorecards_api.ScorecardViewSet)
router.register("scorecard-scores", scorecards_api.ServiceScoreViewSet)
router.register("scorecard-rules", scorecards_api.ScorecardRuleViewSet)
router.register("approvals", approvals_api.ApprovalViewSet)
router.register("notifications", notifications_api.NotificationViewSet, basename="notification")
router.register("workflow-runs", workflows_api.WorkflowRunViewSet, basename="workflowrun")

urlpatterns = [
    path("auth/", include("access.api.urls")),
    path("dora/", deployments_actions_api.DoraView.as_view(), name="dora-metrics"),
    path("search/", search_api.SearchView.as_view(), name="api-search"),
    path("costs/breakdown/", costs_api.CostBreakdownView.as_view(), name="cost-breakdown"),
    path("costs/breakdown/export/", costs_api.CostExportView.as_view(), name="cost-breakdown-export"),
    *router.urls,
]
