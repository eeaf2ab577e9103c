"""Call journeys: what happened on a call, as CallEvents.

Each webhook of a call adds events (the flow it entered, the keys pressed and the option
they chose, a Dial's outcome, a voicemail left, the hang-up...), so staff can see a
call's path and count what callers do. What the caller heard through one document (its
prompts, the schedule's decision, up to the menu, Dial or queue) is one event: a line of
`detail` per step, and the kind, step and try of the last (flows/journey.told). So the
kinds that are counted (input, no input, voicemail, a Dial's end, the hang-up...) are
rows of their own, and a prompt or an Hours decision before them is only words.

Events are keyed by the call's SID, not by a foreign key to its CallLog row: the voice
webhook writes call rows off the caller's critical path (logs/calls.py), so an event may be
written before its call's row exists, and a call's row may be pruned before or after its
events. `CallLog.outcome` keeps the one word a call ended with, so the dashboard and the
changelist filters count calls without reading their events.
"""

from django.db import models


class CallEvent(models.Model):
    class Kind(models.TextChoices):
        CALL_STARTED = "call_started", "Call started"
        FLOW_ENTERED = "flow_entered", "Flow entered"
        PROMPT = "prompt", "Prompt played"
        INPUT = "input", "Input"  # digits or speech, and the option they chose
        INVALID_INPUT = "invalid_input", "Invalid input"
        NO_INPUT = "no_input", "No input"
        SCHEDULE = "schedule", "Schedule decision"
        CALLER_RULE = "caller_rule", "Caller rule"
        DIAL_STARTED = "dial_started", "Dial started"
        DIAL_ENDED = "dial_ended", "Dial ended"
        QUEUE_ENTERED = "queue_entered", "Queue entered"
        QUEUE_LEFT = "queue_left", "Queue left"
        CONFERENCE = "conference", "Conference joined"
        VOICEMAIL = "voicemail", "Voicemail left"
        SMS_SENT = "sms_sent", "SMS sent"
        HUNG_UP = "hung_up", "Hung up"
        CALL_ENDED = "call_ended", "Call ended"

    call_sid = models.CharField("call SID", max_length=34)
    at = models.DateTimeField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Where in which release: the release number (null: the draft), the flow and the step.
    release = models.PositiveIntegerField(null=True, blank=True)
    flow = models.CharField("flow slug", max_length=100, blank=True)
    position = models.PositiveIntegerField("step", null=True, blank=True)
    digits = models.CharField(max_length=64, blank=True)
    speech = models.TextField(blank=True)
    # The menu option chosen ("1", "sales"...), or the outcome word: a Dial's
    # DialCallStatus, a schedule's "open"/"closed", a rule's action, who hung up.
    option = models.CharField(max_length=64, blank=True)
    try_number = models.PositiveSmallIntegerField(null=True, blank=True)
    duration = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds.")
    # Several lines for what the caller heard through one document (flows/journey.told).
    detail = models.TextField(blank=True, help_text="Words for the timeline, a line each.")

    class Meta:
        ordering = ["at", "pk"]
        indexes = [
            models.Index(fields=["call_sid", "at"], name="telephony_callevent_call"),
            # Covering: the dashboard counts menu choices and who gave up from the index
            # alone (telephony/logs/dashboard.py). Key columns rather than INCLUDE, which
            # SQLite lacks.
            models.Index(
                fields=["kind", "at", "flow", "option", "call_sid"],
                name="telephony_callevent_kind_at",
            ),
            models.Index(fields=["at"], name="telephony_callevent_at"),
            # The call log's "pressed N" filter (admin/journeys.py): menu choices only.
            # `kind` is in the key as well as the condition: SQLite's planner does not
            # read the condition as saying kind, and without it may take the kind index.
            models.Index(
                fields=["digits", "kind", "call_sid"],
                condition=models.Q(kind="input"),
                name="telephony_callevent_pressed",
            ),
        ]

    def __str__(self):
        return f"{self.call_sid} {self.kind} at {self.at:%Y-%m-%d %H:%M:%S}"


class CallOutcome(models.TextChoices):
    """How a call ended, in staff words; `CallLog.outcome`, set as its events arrive."""

    ANSWERED = "answered", "Answered (reached someone)"
    VOICEMAIL = "voicemail", "Left a voicemail"
    ABANDONED = "abandoned", "Hung up in the menu"
    MISSED = "missed", "Missed (nobody answered)"
    COMPLETED = "completed", "Heard the flow to its end"
    REJECTED = "rejected", "Rejected (caller rule)"
    FAILED = "failed", "Failed"
