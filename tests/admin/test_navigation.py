"""Navigation across tiers: mapping -> instance in its cell and back, build request -> request spec,
server group -> members wherever they are, host mapping -> compute node; read-only pages; filters
and search on the fields operators use."""

import re

import pytest
from django.urls import reverse

from cellsv2.context import target_cell
from mappings.models import HostMapping, InstanceMapping
from servergroups.models import InstanceGroup, LegacyInstanceGroup
from servers.models import BuildRequest, Instance, RequestSpec
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def _hrefs(html: str) -> list[str]:
    return [href.replace("&amp;", "&") for href in re.findall(r'href="([^"]+)"', html)]


def _link(html: str, text: str) -> str:
    """The href of the first link whose text is ``text``."""
    match = re.search(rf'<a[^>]*href="([^"]+)"[^>]*>{re.escape(text)}</a>', html)
    assert match, f"no link {text!r}"
    return match.group(1).replace("&amp;", "&")


def test_an_instance_mapping_leads_to_its_instance_in_its_cell_and_back(operator, deployment, cells):
    mapping = InstanceMapping.objects.get(instance_uuid=deployment.other_cell)
    page = operator.get(reverse("admin:mappings_instancemapping_change", args=[mapping.pk])).content.decode()
    href = _link(page, "in cell2")
    instance = operator.get(href, follow=True)
    with target_cell(cells["cell2"]):
        pk = Instance.objects.get(uuid=deployment.other_cell).pk
    assert instance.redirect_chain[-1][0] == reverse("celladmin:servers_instance_change", args=[pk])
    html = instance.content.decode()
    assert instance.status_code == 200 and deployment.other_cell in html and "compute2" in html
    assert instance.context["cellsv2_current_cell"].uuid == cells["cell2"].uuid
    # And back: the instance page links to its mapping in the API database.
    back = _link(html, "instance mapping")
    assert back == reverse("admin:mappings_instancemapping_change", args=[mapping.pk])
    assert deployment.other_cell in operator.get(back).content.decode()


def test_the_mapping_list_links_each_row_into_its_cell(operator, deployment, cells):
    html = operator.get(reverse("admin:mappings_instancemapping_changelist")).content.decode()
    links = _hrefs(html)
    go = reverse("celladmin:instance_by_uuid", args=[deployment.active])
    assert f"{go}?cell={cells['cell1'].uuid}" in links
    assert f"{reverse('admin:servers_buildrequest_changelist')}?q={deployment.building}" in links
    # The marker row of an interrupted map_instances is not an instance.
    InstanceMapping.objects.create(instance_uuid="a b", project_id="INSTANCE_MIGRATION_MARKER")
    assert (
        "INSTANCE_MIGRATION_MARKER"
        not in operator.get(reverse("admin:mappings_instancemapping_changelist")).content.decode()
    )


def test_the_instance_page_shows_its_children_and_hides_user_data(operator, deployment, cells):
    operator.get(reverse("celladmin:index"), {"cell": "cell1"})
    with target_cell(cells["cell1"]):
        pk = Instance.objects.get(uuid=deployment.active).pk
    html = operator.get(reverse("celladmin:servers_instance_change", args=[pk])).content.decode()
    assert "role" in html and "image_os" in html and "blue" in html and "m1.tiny" in html
    assert "c2VjcmV0LXVzZXItZGF0YQ==" not in html and "(hidden)" in html
    assert 'name="_save"' not in html


def test_an_instance_its_mapping_names_but_its_cell_lacks_is_reported(operator, deployment, cells):
    InstanceMapping.objects.filter(instance_uuid=deployment.active).update(cell=cells["cell2"])
    mapping = InstanceMapping.objects.get(instance_uuid=deployment.active)
    page = operator.get(reverse("admin:mappings_instancemapping_change", args=[mapping.pk])).content.decode()
    response = operator.get(_link(page, "in cell2"), follow=True)
    assert response.status_code == 200
    assert f"Cell cell2 has no instance {deployment.active}" in response.content.decode()


def test_a_build_request_leads_to_its_request_spec_and_its_mapping_to_the_build_request(operator, deployment):
    build = BuildRequest.objects.get(instance_uuid=deployment.building)
    html = operator.get(reverse("admin:servers_buildrequest_change", args=[build.pk])).content.decode()
    spec_page = operator.get(_link(html, "request spec"))
    spec = RequestSpec.objects.get(instance_uuid=deployment.building)
    assert spec_page.status_code == 200 and list(spec_page.context["cl"].result_list) == [spec]
    mapping = InstanceMapping.objects.get(instance_uuid=deployment.building)
    html = operator.get(reverse("admin:mappings_instancemapping_change", args=[mapping.pk])).content.decode()
    assert _link(html, "still a build request") == reverse("admin:servers_buildrequest_change", args=[build.pk])


def test_a_server_group_links_each_member_wherever_it_is(operator, deployment, cells):
    group = InstanceGroup.objects.get(uuid=deployment.group_uuid)
    html = operator.get(reverse("admin:servergroups_instancegroup_change", args=[group.pk])).content.decode()
    links = _hrefs(html)
    for uuid, cell in ((deployment.active, "cell1"), (deployment.other_cell, "cell2")):
        assert f"{reverse('celladmin:instance_by_uuid', args=[uuid])}?cell={cells[cell].uuid}" in links
    build = BuildRequest.objects.get(instance_uuid=deployment.building)
    assert _link(html, "still a build request") == reverse("admin:servers_buildrequest_change", args=[build.pk])
    assert "no instance mapping" in html  # deployment.unknown
    # Followed, a member's link lands on the instance in its cell.
    member = operator.get(_link(html, "in cell2"), follow=True)
    assert member.status_code == 200 and deployment.other_cell in member.content.decode()


def test_a_legacy_server_group_in_a_cell_links_its_members_too(operator, deployment, cells):
    operator.get(reverse("celladmin:index"), {"cell": "cell1"})
    with target_cell(cells["cell1"]):
        pk = LegacyInstanceGroup.objects.get(uuid=deployment.legacy_group_uuid).pk
    html = operator.get(reverse("celladmin:servergroups_legacyinstancegroup_change", args=[pk])).content.decode()
    assert f"{reverse('celladmin:instance_by_uuid', args=[deployment.active])}?cell={cells['cell1'].uuid}" in _hrefs(
        html
    )


def test_a_host_mapping_leads_to_its_compute_node_and_back(operator, deployment, cells):
    mapping = HostMapping.objects.get(host="compute1")
    html = operator.get(reverse("admin:mappings_hostmapping_changelist")).content.decode()
    nodes = operator.get(_link(html, "in cell1"), follow=True)
    assert nodes.status_code == 200
    assert [node.host for node in nodes.context["cl"].result_list] == ["compute1"]
    assert nodes.context["cellsv2_current_cell"].uuid == cells["cell1"].uuid
    # A mapped node's "mapped" state links to its host mapping.
    href = re.search(r'class="host-mapping-link" href="([^"]+)"', nodes.content.decode()).group(1)
    back = operator.get(href.replace("&amp;", "&"))
    assert list(back.context["cl"].result_list) == [mapping]


# --- read-only where Nova forbids edits ---------------------------------------------------------------


def test_instance_mappings_build_requests_and_tokens_cannot_be_changed(operator, deployment, cells):
    mapping = InstanceMapping.objects.get(instance_uuid=deployment.active)
    build = BuildRequest.objects.get(instance_uuid=deployment.building)
    for label, pk in (("mappings_instancemapping", mapping.pk), ("servers_buildrequest", build.pk)):
        page = operator.get(reverse(f"admin:{label}_change", args=[pk]))
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
        assert operator.post(reverse(f"admin:{label}_change", args=[pk]), {"project_id": "x"}).status_code == 403
        assert operator.post(reverse(f"admin:{label}_delete", args=[pk]), {"post": "yes"}).status_code == 403
        assert operator.get(reverse(f"admin:{label}_add")).status_code == 403
    assert InstanceMapping.objects.get(pk=mapping.pk).project_id == "proj1"
    assert BuildRequest.objects.filter(pk=build.pk).exists()


def test_console_tokens_show_a_hash_prefix_only(operator, deployment, cells):
    from consoles.models import ConsoleAuthToken

    operator.get(reverse("celladmin:index"), {"cell": "cell1"})
    listing = operator.get(reverse("celladmin:consoles_consoleauthtoken_changelist")).content.decode()
    with target_cell(cells["cell1"]):
        pk = ConsoleAuthToken.objects.get().pk
    page = operator.get(reverse("celladmin:consoles_consoleauthtoken_change", args=[pk])).content.decode()
    for html in (listing, page):
        assert deployment.token_hash[:8] in html
        assert deployment.token_hash[:9] not in html
    assert 'name="_save"' not in page
    assert operator.post(reverse("celladmin:consoles_consoleauthtoken_delete", args=[pk])).status_code == 403


def test_api_tokens_show_their_prefix_only(operator, deployment):
    from identity.models import ApiToken

    token = ApiToken.objects.get()
    for url in (
        reverse("admin:identity_apitoken_changelist"),
        reverse("admin:identity_apitoken_change", args=[token.pk]),
    ):
        html = operator.get(url).content.decode()
        assert "tok12345" in html and token.token_hash not in html


# --- filters and search -------------------------------------------------------------------------------


def _results(client, url, **params) -> list:
    response = client.get(url, params)
    assert response.status_code == 200, response
    assert "e" not in response.wsgi_request.GET, "the admin rejected a filter"
    return list(response.context["cl"].result_list)


def test_instance_mappings_filter_by_cell_and_search_by_uuid_project_and_user(operator, deployment, cells):
    url = reverse("admin:mappings_instancemapping_changelist")

    def uuids(**params):
        return {m.instance_uuid for m in _results(operator, url, **params)}

    assert uuids(q=deployment.active) == {deployment.active}
    assert uuids(cell__id__exact=cells["cell2"].pk) == {deployment.other_cell}
    assert uuids(cell__isnull="True") == {deployment.building}
    InstanceMapping.objects.create(
        instance_uuid="11111111-2222-3333-4444-555555555555", project_id="p2", user_id="bob"
    )
    assert uuids(q="p2") == {"11111111-2222-3333-4444-555555555555"}
    assert uuids(q="bob") == {"11111111-2222-3333-4444-555555555555"}
    assert len(uuids(q="proj1")) == 6


def test_instances_filter_by_state_and_search_by_host_project_and_user(operator, deployment, cells):
    operator.get(reverse("celladmin:index"), {"cell": "cell1"})
    url = reverse("celladmin:servers_instance_changelist")

    def uuids(**params):
        return {i.uuid for i in _results(operator, url, **params)}

    assert uuids() == {deployment.active, deployment.failed, deployment.deleted}
    assert uuids(vm_state="error") == {deployment.failed}
    assert uuids(deleted="no") == {deployment.active, deployment.failed}
    assert uuids(deleted="only") == {deployment.deleted}
    assert uuids(q="compute1", deleted="no") == {deployment.active, deployment.failed}
    assert uuids(q="alice", vm_state="active", deleted="no") == {deployment.active}
    assert uuids(q=deployment.failed) == {deployment.failed}


def test_other_lists_filter_and_search(operator, deployment, cells):
    assert [
        b.instance_uuid for b in _results(operator, reverse("admin:servers_buildrequest_changelist"), q="proj1")
    ] == [deployment.building]
    keys = _results(operator, reverse("admin:keypairs_keypair_changelist"), q="alice", type__exact="ssh")
    assert [k.name for k in keys] == ["key"]
    hosts = _results(operator, reverse("admin:mappings_hostmapping_changelist"), cell__id__exact=cells["cell1"].pk)
    assert [h.host for h in hosts] == ["compute1"]
    assert _results(operator, reverse("admin:mappings_hostmapping_changelist"), q="compute1")[0].host == "compute1"
    operator.get(reverse("celladmin:index"), {"cell": "cell1"})
    legacy = _results(operator, reverse("celladmin:keypairs_legacykeypair_changelist"), q="alice", deleted="no")
    assert [k.name for k in legacy] == ["legacy-key"]
    nodes = _results(operator, reverse("celladmin:servers_computenode_changelist"), q="compute1", deleted="no")
    assert [n.host for n in nodes] == ["compute1"]
    tokens = _results(operator, reverse("celladmin:consoles_consoleauthtoken_changelist"), q=deployment.active)
    assert len(tokens) == 1
