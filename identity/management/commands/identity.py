"""``manage.py identity <sub>``: projects, users, roles and API tokens for CELLSV2_AUTH=token.

Each subcommand says what it did. ``project_create`` and ``token_create`` print the new id or
token alone on stdout (for ``$(...)``) and the confirmation on stderr.
Exit codes: 0 done; 1 the request cannot be done (the message says why).
"""

from datetime import timedelta

from prettytable import PrettyTable

from cellsv2.management.base import OperatorCommand
from identity import selectors, services
from identity.exceptions import IdentityError


class Command(OperatorCommand):
    help = "Manage API projects, users, roles and tokens."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="<subcommand>")
        p = sub.add_parser("project_create", help="Create a project and print its id")
        p.add_argument("name")
        p.add_argument("--project-id", dest="project_id", help="Use this id (default: a new 32-hex id)")
        p.add_argument("--description", default="")
        p = sub.add_parser("user_create", help="Create a user, optionally with a role on a project")
        p.add_argument("username")
        p.add_argument("--password", help="Needed only to log in to the admin")
        p.add_argument("--project", help="Project id or name to give the user a role on")
        p.add_argument("--role", default="member", choices=services.ROLES)
        p = sub.add_parser("role_add", help="Give a user a role on a project")
        p.add_argument("username")
        p.add_argument("project")
        p.add_argument("role", choices=services.ROLES)
        p = sub.add_parser("token_create", help="Issue an API token (printed once, stored hashed)")
        p.add_argument("username")
        p.add_argument("project")
        p.add_argument("--expires-in-hours", dest="hours", type=float, help="Default: never expires")
        p.add_argument("--description", default="")
        p = sub.add_parser("token_revoke", help="Revoke tokens by their first characters")
        p.add_argument("prefix")
        sub.add_parser("list", help="List projects, role assignments and tokens (prefixes only)")

    def run(self, *args, subcommand, **options):
        try:
            return getattr(self, f"do_{subcommand}")(**options)
        except IdentityError as exc:
            self.fail(str(exc))
            return 1

    def do_project_create(self, *, name, project_id, description, **options):
        project = services.project_create(name=name, project_id=project_id, description=description)
        self.say(project.project_id)
        self.note(f"Created project {project.name} ({project.project_id})")

    def do_user_create(self, *, username, password, project, role, **options):
        target = selectors.project_get(ref=project) if project else None
        user = services.user_create(username=username, password=password)
        login = " (can log in to the admin)" if password else ""
        if target is None:
            self.say(f"Created user {user.username}{login}, with no role yet: give one with `identity role_add`")
            return
        services.role_assign(user=user, project=target, role=role)
        self.say(f"Created user {user.username} in project {target.name} with role {role}{login}")

    def do_role_add(self, *, username, project, role, **options):
        user, target = selectors.user_get(username=username), selectors.project_get(ref=project)
        services.role_assign(user=user, project=target, role=role)
        self.say(f"User {user.username} has the role {role} in project {target.name}")

    def do_token_create(self, *, username, project, hours, description, **options):
        row, token = services.token_create(
            user=selectors.user_get(username=username),
            project=selectors.project_get(ref=project),
            expires_in=timedelta(hours=hours) if hours else None,
            description=description,
        )
        self.say(token)
        expires = f"expires {row.expires_at:%Y-%m-%d %H:%M:%S} UTC" if row.expires_at else "never expires"
        self.note(
            f"Created a token for {row.user.username} in project {row.project.name} ({expires}); "
            "it is shown only this once"
        )

    def do_token_revoke(self, *, prefix, **options):
        count = services.token_revoke(prefix=prefix)
        if not count:
            self.fail(f"No token starts with {prefix!r}.")
            return 1
        self.say(f"Revoked {count} token(s).")
        return 0

    def do_list(self, **options):
        table = PrettyTable(["Project", "Project ID", "User", "Roles"])
        for project in selectors.project_list():
            by_user = {}
            for assignment in project.role_assignments.all():
                by_user.setdefault(assignment.user.username, []).append(assignment.role)
            for username, roles in sorted(by_user.items()) or [("", [])]:
                table.add_row([project.name, project.project_id, username, ",".join(sorted(roles))])
        self.say(str(table))
        tokens = PrettyTable(["Token", "User", "Project", "Expires", "Description"])
        for token in selectors.token_list():
            tokens.add_row(
                [
                    f"{token.prefix}…",
                    token.user.username,
                    token.project.name,
                    token.expires_at or "never",
                    token.description,
                ]
            )
        self.say(str(tokens))
