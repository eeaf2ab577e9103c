"""`manage.py run_local [addrport]`: the development server and one task worker together
(what `make run` starts), so that a Sms step's text is really sent while you try a flow.

One command and one Ctrl-C: each child runs in a process group of its own (so a reloader
and the server it restarts go together), and this command forwards Ctrl-C or SIGTERM to
both groups, waits up to 10 s, then kills what is left. If either child exits on its own,
the other is stopped the same way and the command fails saying which one died: a site
without its worker would queue texts that never go out, unnoticed.

The worker is the one the TASKS backend needs: `db_worker` for the database backend, or an
RQ worker (with its scheduler, for retries' run_after) for TASKS_BACKEND=rq.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

STOP_TIMEOUT = 10.0


def worker_command() -> list[str]:
    if settings.TASKS["default"]["BACKEND"] == "django_tasks_rq.RQBackend":
        return ["rqworker", "--job-class", "django_tasks_rq.Job", "--with-scheduler"]
    return ["db_worker"]


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)  # the group outlives its leader while a member lives
    except ProcessLookupError:
        pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (a supervisor, `kill`) stops us as Ctrl-C does


class Command(BaseCommand):
    help = "Run the development web server and a task worker; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *, addrport: str, **options):
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        commands = {"web server": ["runserver", addrport], "task worker": worker_command()}
        # Ours, set before the children start (they inherit a signal we ignore, not a handler):
        # run in the background by a shell, Python would otherwise ignore Ctrl-C's SIGINT.
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        children = {
            name: subprocess.Popen([*manage, *args], process_group=0)
            for name, args in commands.items()
        }
        died = None
        try:
            while died is None:
                time.sleep(0.2)
                died = next((n for n, c in children.items() if c.poll() is not None), None)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop(children.values())
        if died is not None:
            others = " and ".join(name for name in children if name != died)
            raise CommandError(
                f"The {died} exited (status {children[died].returncode}); stopped the {others}."
            )

    def stop(self, children) -> None:
        # A second Ctrl-C must not leave a child running: this finishes within the timeout.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in children:
            _signal_group(child, signal.SIGINT)  # what Ctrl-C would send: both stop cleanly
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in children:
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child, signal.SIGKILL)
                child.wait()
