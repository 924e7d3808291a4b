from django.urls import path

from regions import views

app_name = "regions"

urlpatterns = [
    path("", views.region_list, name="list"),
    path("<str:provider>/<str:code>/", views.region_detail, name="detail"),
    path("<str:provider>/<str:code>/clusters/<str:name>/", views.cluster_detail, name="cluster"),
]
