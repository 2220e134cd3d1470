"""The application's URLs plus the floor's ``/floor/items`` (benchmarks only)."""

from django.urls import include, path

from benchmarks import floor

urlpatterns = [
    path("floor/items", floor.ItemList.as_view()),
    path("floor/items/<int:pk>", floor.ItemDetail.as_view()),
    path("floor/items/<int:pk>/two-databases", floor.ItemInTwoDatabases.as_view()),
    path("", include("cellsv2.urls")),
]
