"""Routes of the metadata service, mounted at the root: ``/openstack...`` and the EC2 versions.

The patterns only decide which paths are metadata paths (they never overlap the compute API's
``/v2``, ``/v2.1``, ``/admin`` or ``/docs``); the view resolves the rest of the path as Nova does.
"""

from django.urls import re_path

from servers.api import metadata_views

app_name = "metadata"

# "latest", "1.0" and dated EC2 versions; an unknown date is a metadata 404, not a routing one.
EC2_VERSION = r"(?:latest|1\.0|\d{4}-\d{2}-\d{2})"

urlpatterns = [
    re_path(r"^openstack(?:/.*)?$", metadata_views.metadata, name="openstack"),
    re_path(r"^ec2(?:/.*)?$", metadata_views.metadata, name="ec2"),
    re_path(rf"^{EC2_VERSION}(?:/.*)?$", metadata_views.metadata, name="ec2-version"),
]
