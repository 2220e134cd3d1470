"""The operators' admin of build requests and request specs (API database, read-only, decoded)."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from servers.models import BuildRequest, RequestSpec
from tests.fixtures.compute import place_all
from tests.support import ALL_DATABASES

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("worker_mode")]


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser("operator", "op@example.com", "secret")
    client.force_login(user)
    return client


def test_build_requests_are_listed_decoded_with_their_age(operator, api, topology):
    uuid = api.create_uuid(name="waiting-vm", user_data="c2VjcmV0")
    page = operator.get(reverse("admin:servers_buildrequest_changelist")).content.decode()
    assert uuid in page and "waiting-vm" in page and "m1.tiny" in page and "alice" in page
    assert "minute" in page  # the age column ("0\xa0minutes")
    assert f"{reverse('admin:servers_requestspec_changelist')}?q={uuid}" in page


def test_a_build_request_page_shows_the_instance_fields_read_only(operator, api, topology):
    uuid = api.create_uuid(name="waiting-vm", metadata={"role": "db"}, user_data="c2VjcmV0")
    build = BuildRequest.objects.get(instance_uuid=uuid)
    response = operator.get(reverse("admin:servers_buildrequest_change", args=[build.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "display_name" in page and "waiting-vm" in page and "&quot;role&quot;: &quot;db&quot;" in page
    assert "c2VjcmV0" not in page and "(hidden)" in page
    assert 'name="_save"' not in page
    assert operator.get(reverse("admin:servers_buildrequest_add")).status_code == 403
    assert (
        operator.post(reverse("admin:servers_buildrequest_delete", args=[build.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert BuildRequest.objects.filter(pk=build.pk).exists()


def test_an_unreadable_build_request_is_shown_as_such(operator, api, topology):
    uuid = api.create_uuid()
    BuildRequest.objects.filter(instance_uuid=uuid).update(
        instance='{"nova_object.name": "Instance", "nova_object.version": "9.0", "nova_object.data": {}}'
    )
    build = BuildRequest.objects.get(instance_uuid=uuid)
    assert operator.get(reverse("admin:servers_buildrequest_changelist")).status_code == 200
    page = operator.get(reverse("admin:servers_buildrequest_change", args=[build.pk])).content.decode()
    assert "Cannot be read" in page and "newer than" in page


def test_request_specs_are_decoded_and_linked(operator, api, topology):
    uuid = api.create_uuid(name="vm")
    spec = RequestSpec.objects.get(instance_uuid=uuid)
    changelist = operator.get(reverse("admin:servers_requestspec_changelist")).content.decode()
    assert uuid in changelist and "proj1" in changelist and "m1.tiny" in changelist
    page = operator.get(reverse("admin:servers_requestspec_change", args=[spec.pk])).content.decode()
    build = BuildRequest.objects.get(instance_uuid=uuid)
    assert reverse("admin:servers_buildrequest_change", args=[build.pk]) in page
    assert "num_instances" in page and "flavor" in page
    place_all()
    page = operator.get(reverse("admin:servers_requestspec_change", args=[spec.pk])).content.decode()
    assert "none (placed, or cancelled)" in page
    assert f"{reverse('admin:mappings_instancemapping_changelist')}?q={uuid}" in page
    assert operator.get(reverse("admin:servers_requestspec_add")).status_code == 403
