"""Flavors: the sizes a server can be built with (API database, Nova's flavor tables).

The tables were created by the servers app (its migrations 0002 and 0006) and moved here with
their names unchanged (servers 0010 and flavors 0001 move only Django's state).
"""

from django.db import models

from cellsv2.db import ApiModel


class Flavor(ApiModel):
    """A flavor: the size of a server (Nova's API-database flavors table)."""

    name = models.CharField(max_length=255)
    memory_mb = models.IntegerField()
    vcpus = models.IntegerField()
    # Nova's root_gb, ephemeral_gb, rxtx_factor, disabled and is_public columns are nullable;
    # the Flavor object reads a NULL integer as 0.
    root_gb = models.IntegerField(null=True, blank=True)
    ephemeral_gb = models.IntegerField(null=True, blank=True)
    flavorid = models.CharField(max_length=255)
    swap = models.IntegerField(default=0)
    rxtx_factor = models.FloatField(null=True, blank=True, default=1.0)
    vcpu_weight = models.IntegerField(null=True, blank=True)
    disabled = models.BooleanField(null=True, default=False)
    is_public = models.BooleanField(null=True, default=True)
    description = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "flavors"
        constraints = [
            models.UniqueConstraint(fields=["flavorid"], name="uniq_flavors0flavorid"),
            models.UniqueConstraint(fields=["name"], name="uniq_flavors0name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.flavorid})"


class FlavorExtraSpec(ApiModel):
    """One key/value extra spec of a flavor (Nova's flavor_extra_specs)."""

    flavor = models.ForeignKey(
        "flavors.Flavor", on_delete=models.CASCADE, related_name="extra_specs", db_column="flavor_id", db_index=False
    )
    key = models.CharField(max_length=255)
    value = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        db_table = "flavor_extra_specs"
        constraints = [
            models.UniqueConstraint(fields=["flavor", "key"], name="uniq_flavor_extra_specs0flavor_id0key"),
        ]
        # Without Nova's flavor_extra_specs_flavor_id_key_idx: it duplicates the unique constraint's index.

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class FlavorProject(ApiModel):
    """A project given access to a private flavor (Nova's flavor_projects)."""

    flavor = models.ForeignKey(
        "flavors.Flavor", on_delete=models.CASCADE, related_name="projects", db_column="flavor_id", db_index=False
    )
    project_id = models.CharField(max_length=255)

    class Meta:
        db_table = "flavor_projects"
        constraints = [
            models.UniqueConstraint(fields=["flavor", "project_id"], name="uniq_flavor_projects0flavor_id0project_id"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} on {self.flavor_id}"
