"""Console connections: authorized console tokens and serial ports, in the cell database."""

from django.db import models

from cellsv2.db import CellModel, NovaIndex, UUIDCharField


class ConsoleAuthToken(CellModel):
    """An authorization to open one instance's console (Nova's console_auth_tokens).

    Only the SHA-256 hex of the token is stored; the token itself is handed out once, inside the
    access URL. ``expires`` is in unix epoch seconds, as in Nova. No soft delete and no foreign
    key: rows are deleted with their instance or once expired.
    """

    token_hash = models.CharField(max_length=255)
    console_type = models.CharField(max_length=255)
    host = models.CharField(max_length=255)
    port = models.IntegerField()
    tls_port = models.IntegerField(null=True, blank=True)
    internal_access_path = models.CharField(max_length=255, null=True, blank=True)
    instance_uuid = UUIDCharField()
    expires = models.IntegerField()
    access_url_base = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        db_table = "console_auth_tokens"
        constraints = [models.UniqueConstraint(fields=["token_hash"], name="uniq_console_auth_tokens0token_hash")]
        # Nova's index names (main migration 333; the token_hash-only index was dropped in 27.0.0).
        indexes = [
            NovaIndex(fields=["instance_uuid"], name="console_auth_tokens_instance_uuid_idx"),
            NovaIndex(fields=["host", "expires"], name="console_auth_tokens_host_expires_idx"),
            NovaIndex(fields=["token_hash", "instance_uuid"], name="console_auth_tokens_token_hash_instance_uuid_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.console_type} console of {self.instance_uuid} ({self.token_hash[:8]}...)"


class ConsoleSerialPort(CellModel):
    """A serial console port of a compute host, assigned to one instance (not a Nova table).

    Nova leaves the port to the hypervisor; with no hypervisor agent here, the cell remembers which
    instance a port of a host's range was handed to (``assigned_until``, epoch seconds, the expiry
    of the newest token for it) and which console proxy connection holds it (``connected_by``, a
    lease until ``connected_until`` that the proxy renews while the session lasts). A port is free
    once its assignment has expired and no live lease holds it.
    """

    host = models.CharField(max_length=255)
    port = models.IntegerField()
    instance_uuid = UUIDCharField()
    assigned_until = models.IntegerField()
    connected_by = models.CharField(max_length=255, null=True, blank=True)
    connected_until = models.IntegerField(null=True, blank=True)

    class Meta:
        db_table = "console_serial_ports"
        constraints = [models.UniqueConstraint(fields=["host", "port"], name="uniq_console_serial_ports0host0port")]
        indexes = [NovaIndex(fields=["instance_uuid"], name="console_serial_ports_instance_uuid_idx")]

    def __str__(self) -> str:
        return f"{self.host}:{self.port} ({self.instance_uuid})"
