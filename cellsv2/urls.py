"""URL configuration: the operators' admin and (as their issues land) the compute API."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
