"""Reads of consoles: validating a console token."""

import logging
import uuid as uuid_lib

from consoles.backends import MAX_TOKEN_LENGTH, ConsoleConnection, token_hash, token_store
from consoles.exceptions import InvalidToken

logger = logging.getLogger(__name__)


def _canonical_uuid(value) -> str | None:
    try:
        return str(uuid_lib.UUID(str(value)))
    except ValueError:
        return None


def console_auth_token_validate(*, token, instance_uuid: str | None = None) -> ConsoleConnection:
    """The connection an unexpired token opens (Nova's ConsoleAuthToken.validate).

    The token is hashed and looked up by hash and ``expires > now`` (SQL with the database
    backend: no comparison of secrets in Python). With ``instance_uuid`` the token must belong to
    that instance and only its cell is read; without, every cell but cell0 is asked. Raises
    InvalidToken (whose message never holds the token) for anything else, including tokens of
    absurd length, which are not looked up at all.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken()
    if instance_uuid is not None:
        instance_uuid = _canonical_uuid(instance_uuid)
        if instance_uuid is None:
            raise InvalidToken()
    connection = token_store().find(hashed=token_hash(token), instance_uuid=instance_uuid)
    if connection is None:
        logger.debug("Console token validation failed")
        raise InvalidToken()
    return connection
