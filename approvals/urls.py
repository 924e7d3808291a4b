from django.urls import path

from approvals import views

app_name = "approvals"

urlpatterns = [
    path("", views.approval_list, name="list"),
    path("<int:pk>/", views.approval_detail, name="detail"),
    path("<int:pk>/decide/", views.approval_decide, name="decide"),
    path("<int:pk>/withdraw/", views.approval_withdraw, name="withdraw"),
]
