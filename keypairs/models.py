"""Key pairs: API-database rows, the legacy cell copies being moved out, and quarantined conflicts."""

from django.db import models

from cellsv2.db import ApiModel, CellModel, SoftDeleteMixin, UUIDCharField

KEY_TYPE_SSH = "ssh"
KEY_TYPE_X509 = "x509"
KEY_TYPES = [(KEY_TYPE_SSH, "ssh"), (KEY_TYPE_X509, "x509")]


class KeyPair(ApiModel):
    """A user's key pair (Nova's API-database key_pairs; no soft delete)."""

    name = models.CharField(max_length=255)
    user_id = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=255, null=True, blank=True)
    public_key = models.TextField(null=True, blank=True)
    type = models.CharField(max_length=4, choices=KEY_TYPES, default=KEY_TYPE_SSH)

    class Meta:
        db_table = "key_pairs"
        constraints = [models.UniqueConstraint(fields=["user_id", "name"], name="uniq_key_pairs0user_id0name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"


class LegacyKeyPair(SoftDeleteMixin, CellModel):
    """A key pair still in a cell database, from before key pairs moved to the API database."""

    name = models.CharField(max_length=255)
    user_id = models.CharField(max_length=255, null=True, blank=True)
    fingerprint = models.CharField(max_length=255, null=True, blank=True)
    public_key = models.TextField(null=True, blank=True)
    type = models.CharField(max_length=4, choices=KEY_TYPES, default=KEY_TYPE_SSH)

    class Meta:
        db_table = "key_pairs"
        constraints = [
            models.UniqueConstraint(fields=["user_id", "name", "deleted"], name="uniq_key_pairs0user_id0name0deleted")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"


class KeyPairConflict(ApiModel):
    """A cell key pair set aside by the move because the API database has a different key of that name."""

    cell_uuid = UUIDCharField()
    legacy_id = models.IntegerField(help_text="id of the row in the cell's key_pairs table")
    name = models.CharField(max_length=255)
    user_id = models.CharField(max_length=255, null=True, blank=True)
    fingerprint = models.CharField(max_length=255, null=True, blank=True)
    public_key = models.TextField(null=True, blank=True)
    type = models.CharField(max_length=4, choices=KEY_TYPES, default=KEY_TYPE_SSH)
    legacy_created_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(
        max_length=16, blank=True, default="", help_text="kept-api or kept-cell once an operator resolved it"
    )

    class Meta:
        db_table = "key_pair_conflicts"
        constraints = [
            models.UniqueConstraint(fields=["cell_uuid", "legacy_id"], name="uniq_key_pair_conflicts0cell0legacy")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id}) from cell {self.cell_uuid}"


class KeyPairDeletion(ApiModel):
    """A key pair its user deleted while a cell that may hold a legacy copy did not answer.

    The copy must not come back when the cell does: reads skip legacy rows of a deleted name and
    the move drops them instead of copying them to the API database. Kept only while legacy key
    pairs remain; the move clears them once every cell has none.
    """

    user_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255)

    class Meta:
        db_table = "key_pair_deletions"
        constraints = [models.UniqueConstraint(fields=["user_id", "name"], name="uniq_key_pair_deletions0user0name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id}) deleted"
