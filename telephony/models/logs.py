"""Call and message logs: one row per call or message, in or out, keyed by Twilio's SID."""

from django.core.exceptions import ValidationError
from django.db import models

from telephony.models.flows import CallFlow, Step
from telephony.models.journeys import CallOutcome
from telephony.models.limits import SMS_MAX_CHARS


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class LogEntry(models.Model):
    """What call and message logs share. `sid` is null until Twilio has given one, so an
    attempt is recorded before the API is called and is never lost."""

    # Unique and indexed through Meta, not unique=/db_index=: on PostgreSQL those add a
    # second, varchar_pattern_ops index to each column for LIKE 'prefix%' queries, which
    # nothing here runs, and which every inserted row (one per call) had to maintain.
    sid = models.CharField("Twilio SID", max_length=34, null=True, blank=True)  # noqa: DJ001
    direction = models.CharField(max_length=8, choices=Direction.choices)
    # Not PhoneNumberFields: Twilio also sends client:alice, sip:..., whatsapp:+1..., anonymous.
    from_number = models.CharField("from", max_length=128, blank=True)
    to_number = models.CharField("to", max_length=128, blank=True)
    # Twilio's status words; statuses.py says which may replace which.
    status = models.CharField(max_length=20, blank=True)
    error_code = models.PositiveIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["sid"], name="%(app_label)s_%(class)s_sid_unique")
        ]
        # Each admin filter has an index that also gives the list its order (newest
        # first), so a filtered page is read from the index, never sorted from the table.
        indexes = [
            models.Index(fields=["status", "created_at"], name="%(app_label)s_%(class)s_status_at"),
            # Rows with an error only: small, and what the error filter lists its codes from.
            models.Index(
                fields=["error_code", "created_at"],
                condition=models.Q(error_code__isnull=False),
                name="%(app_label)s_%(class)s_error_at",
            ),
            # Our number and the caller's, for the dashboard's number filter and the search
            # by number: pattern_ops (PostgreSQL) so "starts with +1415" uses it too.
            models.Index(
                fields=["to_number", "created_at"],
                opclasses=["varchar_pattern_ops", "timestamptz_ops"],
                name="%(app_label)s_%(class)s_to_at",
            ),
            models.Index(
                fields=["from_number", "created_at"],
                opclasses=["varchar_pattern_ops", "timestamptz_ops"],
                name="%(app_label)s_%(class)s_from_at",
            ),
        ]

    def __str__(self):
        return f"{self.sid or 'no SID yet'} {self.from_number} -> {self.to_number}"


class CallLog(LogEntry):
    """One inbound or outbound call."""

    # No index of its own: (flow, created_at) below serves every lookup by flow.
    flow = models.ForeignKey(
        CallFlow,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="call_logs",
        db_index=False,
    )
    url = models.URLField("TwiML URL", max_length=500, blank=True)
    duration = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds, from Twilio's final status callback."
    )
    conference = models.CharField(
        max_length=128, blank=True, help_text="The conference room the caller joined, if any."
    )
    # A Dial step with "record" on: the recording of the call, from its recording callback.
    recording_sid = models.CharField("recording SID", max_length=34, blank=True)
    recording_url = models.URLField("recording URL", max_length=500, blank=True)
    recording_duration = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds of the call's recording."
    )
    # How the call ended (models/journeys.CallOutcome); blank while it runs or if unknown.
    outcome = models.CharField(max_length=12, choices=CallOutcome.choices, blank=True)

    class Meta(LogEntry.Meta):
        verbose_name = "call log"
        indexes = [
            *LogEntry.Meta.indexes,
            models.Index(fields=["outcome", "created_at"], name="telephony_calllog_outcome"),
            models.Index(fields=["flow", "created_at"], name="telephony_calllog_flow_at"),
        ]


class MessageLog(LogEntry):
    """One inbound or outbound SMS/MMS. Inbound rows also keep the auto-reply we sent."""

    body = models.TextField(blank=True)
    media_urls = models.JSONField(default=list, blank=True)
    reply = models.TextField(blank=True, help_text="Inbound: the auto-reply we answered with.")
    # Set when a flow's Sms step sent this message, so a retried webhook sends it once.
    call_sid = models.CharField("call SID", max_length=34, blank=True)
    step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="message_logs"
    )

    class Meta(LogEntry.Meta):
        verbose_name = "message log"
        constraints = [
            *LogEntry.Meta.constraints,
            models.UniqueConstraint(
                fields=["call_sid", "step"],
                condition=~models.Q(call_sid="") & models.Q(step__isnull=False),
                name="unique_sms_step_per_call",
            ),
        ]

    def clean(self):
        # Only what we send is held to Twilio's limit; what we received is kept as it came.
        if self.direction == Direction.OUTBOUND and len(self.body) > SMS_MAX_CHARS:
            raise ValidationError(
                {
                    "body": f"An SMS holds at most {SMS_MAX_CHARS} characters; this has {len(self.body)}."
                }
            )
