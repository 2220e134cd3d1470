"""Console response bodies per microversion (Nova's remote_consoles and console_auth_tokens
controllers). Nothing here queries."""

SPICE_DIRECT_VERSION = "2.99"


class ConsoleSerializer:
    """Console URLs and token connections as the API shows them at one microversion."""

    def __init__(self, version):
        self.version = version

    def remote_console(self, console, *, protocol: str, console_type: str) -> dict:
        """``POST /servers/{id}/remote-consoles`` (2.6+)."""
        return {"remote_console": {"protocol": protocol, "type": console_type, "url": console.url}}

    def legacy_console(self, console, *, console_type: str) -> dict:
        """The legacy ``os-get*Console`` actions (2.1-2.5)."""
        return {"console": {"type": console_type, "url": console.url}}

    def token_connection(self, connection) -> dict:
        """``GET /os-console-auth-tokens/{token}`` (2.31+; ``tls_port`` of spice-direct from 2.99)."""
        console = {
            "instance_uuid": connection.instance_uuid,
            "host": connection.host,
            "port": connection.port,
            "internal_access_path": connection.internal_access_path,
        }
        if self.version >= SPICE_DIRECT_VERSION and connection.console_type == "spice-direct":
            console["tls_port"] = connection.tls_port
        return {"console": console}
