"""Domain exceptions of the quota API (str() is the client message)."""


class QuotaLimitOutOfRange(ValueError):
    """A new limit below what is used, or above what the project leaves for a user (Nova's 400)."""

    def __init__(self, *, resource: str, limit: int, minimum: int | None = None, maximum: int | None = None):
        if minimum is not None:
            message = (
                f"Quota limit {limit} for {resource} must be greater than or equal to already used and "
                f"reserved {minimum}."
            )
        else:
            message = f"Quota limit {limit} for {resource} must be less than or equal to {maximum}."
        super().__init__(message)


class InvalidProject(ValueError):
    """A project id the identity service does not know (Nova's verify_project_id)."""

    def __init__(self, project_id: str):
        super().__init__(f"Project ID {project_id} is not a valid project.")


class InvalidQuotaClassName(ValueError):
    def __init__(self):
        super().__init__("quota_class_name has a length outside 1..255 characters.")
