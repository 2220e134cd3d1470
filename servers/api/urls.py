"""Compute API routes of the servers app (Nova's paths, no trailing slashes)."""

app_name = "servers-api"

urlpatterns = []
