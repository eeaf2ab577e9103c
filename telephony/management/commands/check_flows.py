"""manage.py check_flows: list mistakes in the call flows; fails when any is an error."""

from django.core.management.base import BaseCommand, CommandError

from telephony.tools.flow_checks import ERROR, find_problems


class Command(BaseCommand):
    help = (
        "List problems across all call flows (dead ends, unreachable flows, redirect loops, "
        "options that cannot be chosen...). Exits non-zero when any error is found."
    )

    def add_arguments(self, parser):
        parser.add_argument("--flow", help="Only the findings about this flow (slug).")

    def handle(self, *args, **options):
        findings = find_problems(flow=options["flow"])
        for finding in findings:
            style = self.style.ERROR if finding.severity == ERROR else self.style.WARNING
            self.stdout.write(style(str(finding)))
        errors = sum(finding.severity == ERROR for finding in findings)
        warnings = len(findings) - errors
        if errors:
            raise CommandError(f"{errors} error(s) and {warnings} warning(s) in the call flows.")
        if warnings:
            self.stdout.write(f"No errors; {warnings} warning(s).")
        else:
            self.stdout.write(self.style.SUCCESS("No problems found in the call flows."))
