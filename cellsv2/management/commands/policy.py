"""``manage.py policy <sub>``: the policy rules, as an operator writes a policy.yaml from them.

- ``sample [--output-file F] [--exclude-deprecated]``: every registered rule with its default,
  description and operations, commented out: what ``oslopolicy-sample-generator`` prints for
  these rules (its own formatting functions write it), a starting point for CELLSV2_POLICY_FILE.
- ``list``: each rule's name and the check string in force (the policy file's where it sets
  one), as a table, with the rules of the policy file that this API does not have.

Exit codes: 0 done; 1 the policy file or the output file is a problem (the message says which).
"""

from oslo_policy import generator
from prettytable import PrettyTable

from cellsv2.api.policy import policy_enforcer, policy_file_problem, registered_policy_rules
from cellsv2.management.base import OperatorCommand, quantity

# The namespace oslopolicy-sample-generator would be given; with one namespace it only orders sections.
NAMESPACE = "cellsv2"


def policy_sample(*, exclude_deprecated: bool = False) -> str:
    """The sample policy file of the registered rules, as oslopolicy-sample-generator writes it."""
    sections = generator._sort_and_format_by_section(
        {NAMESPACE: registered_policy_rules()}, include_help=True, exclude_deprecated=exclude_deprecated
    )
    return "".join(sections)


class Command(OperatorCommand):
    help = "Print the policy rules: a sample policy.yaml of the defaults, or the rules in force."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="<subcommand>")
        p = sub.add_parser("sample", help="Print the default rules as a sample policy.yaml (all commented out)")
        p.add_argument("--output-file", dest="output_file", help="Write it to this file instead of stdout")
        p.add_argument(
            "--exclude-deprecated",
            dest="exclude_deprecated",
            action="store_true",
            help="Leave out the notes about deprecated rules and their old names",
        )
        sub.add_parser("list", help="List each rule and the check string in force (default or CELLSV2_POLICY_FILE)")

    def run(self, *args, subcommand, **options):
        return getattr(self, f"do_{subcommand}")(**options)

    def do_sample(self, *, output_file, exclude_deprecated, **options):
        text = policy_sample(exclude_deprecated=exclude_deprecated)
        if not output_file:
            self.stdout.write(text, ending="")
            return 0
        try:
            with open(output_file, "w") as out:
                out.write(text)
        except OSError as exc:
            self.fail(f"Cannot write {output_file}: {exc.strerror}")
            return 1
        self.say(f"Wrote the defaults of {quantity(len(registered_policy_rules()), 'rule')} to {output_file}")
        return 0

    def do_list(self, **options):
        problem = policy_file_problem()
        if problem is not None:
            self.fail(problem)
            return 1
        enforcer = policy_enforcer()
        enforcer.load_rules()
        overridden = enforcer.file_rules
        table = PrettyTable(["Rule", "Check string", "From"])
        table.align = "l"
        for rule in registered_policy_rules():
            in_force = enforcer.rules.get(rule.name)
            if rule.name in overridden:
                table.add_row([rule.name, overridden[rule.name].check_str, "policy file"])
            elif in_force is None or str(in_force) == str(rule.check):
                table.add_row([rule.name, rule.check_str, "default"])
            else:
                # Nova's deprecated name of the rule is set in the file and stands in for it.
                table.add_row([rule.name, str(in_force), f"policy file, as {rule.deprecated_rule.name}"])
        known = {rule.name for rule in registered_policy_rules()}
        for name, rule in overridden.items():
            if name not in known:
                table.add_row([name, rule.check_str, "policy file (no such rule here)"])
        self.say(table.get_string())
        return 0
