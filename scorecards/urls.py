from django.urls import path

from scorecards import views

app_name = "scorecards"

urlpatterns = [
    path("", views.scorecard_list, name="list"),
    path("new/", views.scorecard_create, name="create"),
    path("<int:pk>/", views.scorecard_detail, name="detail"),
    path("<int:pk>/edit/", views.scorecard_edit, name="edit"),
    path("<int:pk>/delete/", views.scorecard_delete, name="delete"),
    path("<int:pk>/evaluate/", views.scorecard_evaluate, name="evaluate"),
    path("<int:pk>/rules/new/", views.rule_create, name="rule_create"),
    path("rules/<int:pk>/edit/", views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/delete/", views.rule_delete, name="rule_delete"),
]
