"""The services page of the cell admin: one cell's services, disabled and enabled as an action
through the same service as the API."""

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.urls import reverse

from cellsv2.context import target_cell
from hosts.models import Service
from tests.admin.helpers import make_superuser
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


@pytest.fixture
def operator(client):
    client.force_login(make_superuser())
    return client


def test_the_services_of_the_cell_picked_are_listed(hosts, operator):
    operator.get(reverse("celladmin:index"), {"cell": "cell2"})
    page = operator.get(reverse("celladmin:hosts_service_changelist"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "compute2" in text and "compute1" not in text
    assert "enabled" in text and "up" in text


def test_disable_and_enable_as_actions(hosts, operator, api):
    operator.get(reverse("celladmin:index"), {"cell": "cell2"})
    with target_cell(hosts.cells["cell2"]):
        pk = Service.objects.get(host="compute2").pk
    url = reverse("celladmin:hosts_service_changelist")
    response = operator.post(
        url, {"action": "disable_services", admin.helpers.ACTION_CHECKBOX_NAME: [str(pk)]}, follow=True
    )
    assert "1 service(s) disabled in cell cell2." in [str(m) for m in get_messages(response.wsgi_request)]
    with target_cell(hosts.cells["cell2"]):
        service = Service.objects.get(pk=pk)
    assert service.disabled is True
    assert service.disabled_reason.startswith("Disabled in the admin by ")
    # The API sees it.
    row = api("get", "/os-services?host=compute2", version="2.53").json()["services"][0]
    assert row["status"] == "disabled"
    operator.post(url, {"action": "enable_services", admin.helpers.ACTION_CHECKBOX_NAME: [str(pk)]}, follow=True)
    with target_cell(hosts.cells["cell2"]):
        assert Service.objects.get(pk=pk).disabled is False
    # The change form stays read-only.
    form = operator.post(reverse("celladmin:hosts_service_change", args=[pk]), {"disabled": "on"})
    assert form.status_code == 403


def test_the_cells_dashboard_counts_each_cells_compute_services(hosts, operator, api):
    api("put", "/os-services/disable", version="2.1", body={"host": "compute2", "binary": "nova-compute"})
    page = operator.get(reverse("admin:cellsv2_dashboard"))
    assert page.status_code == 200
    by_cell = {status.mapping.name: status.services for status in page.context["cells"]}
    assert by_cell["cell1"] == {"services": 1, "disabled": 0, "forced_down": 0}
    assert by_cell["cell2"] == {"services": 1, "disabled": 1, "forced_down": 0}
    text = page.content.decode()
    assert reverse("celladmin:hosts_service_changelist") + f"?cell={hosts.cells['cell2'].uuid}" in text
    assert "1 disabled" in text
