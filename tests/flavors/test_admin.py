"""The operators' admin of flavors: its own section, the description edited and flavors deleted
through the services, each allowed by the flavors app's permissions."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from flavors.models import Flavor, FlavorExtraSpec, FlavorProject
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def staff(client, *codenames: str):
    """A client logged in as a staff user holding only these flavors permissions."""
    user = get_user_model().objects.create_user("ops", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="flavors", codename__in=codenames))
    client.force_login(user)
    return client


@pytest.fixture
def flavor():
    row = Flavor.objects.create(flavorid="42", name="m9.admin", memory_mb=1024, vcpus=2, root_gb=10)
    FlavorExtraSpec.objects.create(flavor=row, key="hw:cpu_policy", value="dedicated")
    FlavorProject.objects.create(flavor=row, project_id="proj1")
    return row


def change_form(flavor, description: str) -> dict:
    spec, project = flavor.extra_specs.get(), flavor.projects.get()
    return {
        "description": description,
        # The read-only inlines still send their management forms.
        "extra_specs-TOTAL_FORMS": "1",
        "extra_specs-INITIAL_FORMS": "1",
        "extra_specs-0-id": str(spec.pk),
        "extra_specs-0-flavor": str(flavor.pk),
        "projects-TOTAL_FORMS": "1",
        "projects-INITIAL_FORMS": "1",
        "projects-0-id": str(project.pk),
        "projects-0-flavor": str(flavor.pk),
    }


def test_flavors_have_their_own_section_of_the_admin(client, flavor):
    operator = staff(client, "view_flavor", "view_flavorextraspec", "view_flavorproject")

    index = operator.get(reverse("admin:index")).content.decode()
    changelist = operator.get("/admin/flavors/flavor/")
    page = operator.get(reverse("admin:flavors_flavor_change", args=[flavor.pk])).content.decode()

    assert 'href="/admin/flavors/"' in index and 'href="/admin/flavors/flavor/"' in index
    assert changelist.status_code == 200 and "m9.admin" in changelist.content.decode()
    assert "hw:cpu_policy" in page and "dedicated" in page and "proj1" in page
    # Flavors are created with `manage.py flavors create` or the API, not here.
    assert operator.get(reverse("admin:flavors_flavor_add")).status_code == 403


def test_the_change_permission_edits_the_description_and_nothing_else(client, flavor):
    operator = staff(client, "view_flavor", "change_flavor")
    url = reverse("admin:flavors_flavor_change", args=[flavor.pk])

    response = operator.post(url, {**change_form(flavor, "for the admin"), "name": "renamed", "vcpus": "64"})

    assert response.status_code == 302, response.context["errors"] if response.context else response
    flavor.refresh_from_db()
    assert (flavor.description, flavor.name, flavor.vcpus) == ("for the admin", "m9.admin", 2)
    assert operator.post(reverse("admin:flavors_flavor_delete", args=[flavor.pk]), {"post": "yes"}).status_code == 403
    assert Flavor.objects.filter(pk=flavor.pk).exists()


def test_the_delete_permission_deletes_the_flavor_with_its_specs_and_projects(client, flavor):
    operator = staff(client, "view_flavor", "delete_flavor")

    response = operator.post(reverse("admin:flavors_flavor_delete", args=[flavor.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Flavor.objects.filter(pk=flavor.pk).exists()
    assert not FlavorExtraSpec.objects.filter(flavor_id=flavor.pk).exists()
    assert not FlavorProject.objects.filter(flavor_id=flavor.pk).exists()
