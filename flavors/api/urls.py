"""Compute API routes of the flavors app (Nova's paths, no trailing slashes)."""

from django.urls import path

from flavors.api import views

app_name = "flavors-api"

urlpatterns = [
    path("flavors", views.FlavorCollectionView.as_view(), name="flavors"),
    # Before flavors/<id>, as in Nova: no flavor can be reached by the id "detail".
    path("flavors/detail", views.FlavorDetailCollectionView.as_view(), name="flavors-detail"),
    path("flavors/<str:flavor_id>", views.FlavorView.as_view(), name="flavor"),
]
