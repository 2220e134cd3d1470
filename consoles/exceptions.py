"""Domain errors of consoles. None of their messages ever contains a token."""


class InvalidToken(Exception):
    """No unexpired token with that hash (or it belongs to another instance); Nova's InvalidToken."""

    def __init__(self):
        super().__init__("The token '***' is invalid or has expired")


class TokenInUse(Exception):
    def __init__(self):
        super().__init__("The generated token is already in use")


class InstanceNotReady(Exception):
    """The server has no host yet (a build request, or buried in cell0)."""

    def __init__(self, uuid: str):
        super().__init__(f"Instance {uuid} is not ready")


class InstanceInvalidState(Exception):
    def __init__(self, uuid: str, state: str, method: str):
        super().__init__(
            f"Instance {uuid} in task_state {state}. Cannot {method} while the instance is in this state."
        )


class ConsoleTypeUnavailable(Exception):
    """The console kind is disabled (or rdp, which is gone)."""

    def __init__(self, console_type):
        super().__init__(f"Unavailable console type {console_type}.")


class ConsoleTypeInvalid(Exception):
    """The console type does not fit the protocol."""

    def __init__(self, console_type):
        super().__init__(f"Invalid console type {console_type}")


class SerialPortsExhausted(Exception):
    """Every serial port of the host's range is assigned or connected."""

    def __init__(self, host: str, first: int, last: int):
        super().__init__(
            f"No free serial console port on host {host}: every port of {first}:{last} is in use; "
            "try again when a console session has ended or a console URL has expired."
        )
        self.host = host


class SerialPortBusy(Exception):
    """A console proxy already holds a connection to this serial port."""

    def __init__(self, host: str, port: int):
        super().__init__(f"Serial console port {host}:{port} is already connected")
