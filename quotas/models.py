"""Quotas own no tables of their own: the limits (``quota_classes``, ``quotas``,
``project_user_quotas``, API database) are the quota engine's, in ``cellsv2/models.py``, since
every app's create path reads them through ``cellsv2.quotas``."""
