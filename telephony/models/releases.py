"""Releases: immutable snapshots of what callers and texters meet, and the test callers.

What staff edit in the admin is the *draft*. Publishing stores the draft as a Release
(Django's fixture format, natural keys: the same JSON `dumpdata --natural-foreign
--natural-primary` writes), and the webhooks serve the live release. A release never
changes once stored, so a worker may keep it in memory for good (flows/cache.py).
Which release is live is `FlowsVersion.live_release`, one row every worker re-reads.
"""

from django.conf import settings
from django.db import models
from phonenumber_field.modelfields import PhoneNumberField


class Release(models.Model):
    """One published snapshot. Releases are numbered 1, 2, 3... and never edited."""

    number = models.PositiveIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField("published", auto_now_add=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who published it (blank: a migration or a shell command).",
    )
    note = models.TextField(blank=True)
    content_hash = models.CharField(
        max_length=64, editable=False, help_text="SHA-256 of the fixture: same hash, same flows."
    )
    fixture = models.TextField(
        editable=False, help_text="The snapshot, in Django's JSON fixture format (natural keys)."
    )
    rolled_back_to = models.PositiveIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="Set when this release re-published an earlier one (a rollback).",
    )

    class Meta:
        ordering = ["-number"]

    def __str__(self):
        return f"Release {self.number}"


class TestCaller(models.Model):
    """A phone that hears (and texts) the draft instead of the live release."""

    __test__ = False  # not a pytest test class, whatever its name

    number = PhoneNumberField(
        unique=True, help_text="E.164, e.g. +14155550100: this phone hears the draft."
    )
    name = models.CharField(
        max_length=100, blank=True, help_text="Whose phone, e.g. Dana's mobile."
    )

    class Meta:
        ordering = ["number"]

    def __str__(self):
        return f"{self.number} ({self.name})" if self.name else str(self.number)
