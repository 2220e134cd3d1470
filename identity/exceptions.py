"""Errors of the identity services and selectors."""


class IdentityError(Exception):
    """An identity operation that cannot be done; str() says why (``manage.py identity`` prints it)."""
