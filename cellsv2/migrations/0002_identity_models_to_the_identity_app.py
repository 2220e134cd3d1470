"""Project, RoleAssignment and ApiToken become the identity app's (identity 0001 takes them over).

State only: the tables (``cellsv2_projects``, ``cellsv2_role_assignments``, ``cellsv2_api_tokens``)
and their rows stay where they are, in the API database.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("cellsv2", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="ApiToken"),
                migrations.DeleteModel(name="RoleAssignment"),
                migrations.DeleteModel(name="Project"),
            ],
            database_operations=[],
        ),
    ]
