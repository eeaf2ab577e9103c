"""A counter of changes to what callers hear, so every worker knows when to reload flows.

Each worker keeps flows and rendered TwiML in memory (flows/cache.py). Any save or delete
that changes a call (see telephony/signals.py) bumps this one row's number in the same
transaction as the change; each worker re-reads the number at most once a second and
empties its memory when it moved.
"""

from django.db import models
from django.db.models import F


class FlowsVersion(models.Model):
    """One row (pk 1): the number of changes so far to flows, steps, options and numbers."""

    number = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = "flows version"

    def __str__(self):
        return f"flows version {self.number}"

    @classmethod
    def current(cls) -> int:
        """The number now (0 before the first change): one indexed read."""
        return cls.objects.filter(pk=1).values_list("number", flat=True).first() or 0

    @classmethod
    def bump(cls) -> None:
        """Count one more change; atomic in the database, whatever runs concurrently."""
        if not cls.objects.filter(pk=1).update(number=F("number") + 1):
            cls.objects.get_or_create(pk=1, defaults={"number": 1})
