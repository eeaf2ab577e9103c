"""One row every worker re-reads: how often the draft changed, and which release is live.

Each worker keeps releases and the draft in memory (flows/cache.py). Any save or delete
that changes the draft (see telephony/signals.py) bumps `number` in the same transaction
as the change; publishing or rolling back sets `live_release`. Each worker re-reads this
row at most once a second: that is how every worker of every machine follows a publish.
"""

from django.db import models
from django.db.models import F


class FlowsVersion(models.Model):
    """One row (pk 1): the draft's change counter and the live release's number."""

    number = models.PositiveBigIntegerField(default=0)
    live_release = models.PositiveIntegerField(
        null=True, blank=True, help_text="The number of the release callers get (none yet: null)."
    )

    class Meta:
        verbose_name = "flows version"

    def __str__(self):
        return f"flows version {self.number}, live release {self.live_release}"

    @classmethod
    def current(cls) -> tuple[int, int | None]:
        """(draft changes, live release) now; (0, None) before anything: one indexed read."""
        return cls.objects.filter(pk=1).values_list("number", "live_release").first() or (0, None)

    @classmethod
    def bump(cls) -> None:
        """Count one more change to the draft; atomic in the database."""
        if not cls.objects.filter(pk=1).update(number=F("number") + 1):
            cls.objects.get_or_create(pk=1, defaults={"number": 1})

    @classmethod
    def locked(cls) -> "FlowsVersion":
        """The row, locked until the transaction ends (publishes queue up behind it)."""
        cls.objects.get_or_create(pk=1)
        return cls.objects.select_for_update().get(pk=1)
