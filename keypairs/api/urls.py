"""Compute API routes of key pairs (Nova's paths, no trailing slashes)."""

from django.urls import path

from keypairs.api import views

app_name = "keypairs-api"

urlpatterns = [
    path("os-keypairs", views.KeypairListView.as_view(), name="keypair-list"),
    path("os-keypairs/<str:name>", views.KeypairDetailView.as_view(), name="keypair-detail"),
]
