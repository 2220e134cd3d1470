"""Give the hosts of compute nodes registered before the services table its nova-compute service
(each cell database; the hosts app's models are all cell models, so it runs in the cells only).
Re-runnable: a host that has its service keeps it."""

import uuid

from django.db import migrations


def services_for_existing_nodes(apps, schema_editor):
    alias = schema_editor.connection.alias
    ComputeNode = apps.get_model("servers", "ComputeNode")
    Service = apps.get_model("hosts", "Service")
    nodes = ComputeNode.objects.using(alias).filter(deleted=0).exclude(host=None).order_by("id")
    for host in dict.fromkeys(nodes.values_list("host", flat=True)):
        service = Service.objects.using(alias).filter(host=host, binary="nova-compute", deleted=0).first()
        if service is None:
            service = Service.objects.using(alias).create(
                uuid=str(uuid.uuid4()), host=host, binary="nova-compute", topic="compute"
            )
        nodes.filter(host=host, service_id=None).update(service_id=service.id)


class Migration(migrations.Migration):
    dependencies = [
        ("hosts", "0001_initial"),
        # The compute_nodes table as this migration reads it (created by servers 0001).
        ("servers", "0001_initial"),
    ]

    operations = [migrations.RunPython(services_for_existing_nodes, migrations.RunPython.noop)]
