"""Broadcasts: one text, or one call flow, sent to a list of recipients, paced, each
recipient exactly once.

A Broadcast is of one of two kinds. A text broadcast holds the message (a body with
{placeholders}, an optional media URL), its sender (one of our SMS-capable numbers, or a
Messaging Service SID) and its pace. A call campaign (CallCampaign, the same rows) holds
the slug of a flow of the live release that each call runs, its caller ID (one of our
voice numbers) and its calls per second. Each BroadcastRecipient is one number with its
placeholder values; the MessageLog or CallLog it produced holds Twilio's SID and status
(status callbacks move both forward), and for a call, the option the person pressed.
SendPace rows are the limiter every worker on every machine shares (sending/pace.py).
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from telephony.models.limits import SMS_MAX_CHARS
from telephony.models.logs import CallLog, MessageLog
from telephony.models.numbers import PhoneNumber

PLACEHOLDER = re.compile(r"\{(\w+)\}")
MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")


def placeholders(body: str) -> list[str]:
    """The {names} a body uses, in order of first use."""
    return list(dict.fromkeys(PLACEHOLDER.findall(body)))


def fill(body: str, variables: dict) -> str:
    """`body` with each {name} replaced by variables[name] (creation checked they exist)."""
    return PLACEHOLDER.sub(lambda m: str(variables.get(m.group(1), m.group(0))), body)


# A call's final status (status callbacks) in the words staff read: its outcome.
CALL_OUTCOMES = {
    "completed": "answered",
    "no-answer": "no answer",
    "busy": "busy",
    "failed": "failed",
    "canceled": "canceled",
}


class Broadcast(models.Model):
    class Kind(models.TextChoices):
        SMS = "sms", "Text message"
        CALL = "call", "Call"

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"
        DONE = "done", "Done"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.SMS)
    body = models.TextField(
        blank=True,
        help_text="The text; {name} is replaced by each recipient's value of the column 'name'.",
    )
    flow_slug = models.SlugField(
        "call flow",
        max_length=100,
        blank=True,
        help_text="Calls: the flow of the live release each person hears when they answer.",
    )
    media_url = models.URLField("media URL", max_length=500, blank=True)
    phone_number = models.ForeignKey(
        PhoneNumber,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="broadcasts",
        help_text="Send from this number of ours (SMS-capable; for calls: the caller ID, "
        "voice-capable)...",
    )
    messaging_service_sid = models.CharField(
        "Messaging Service SID",
        max_length=34,
        blank=True,
        help_text="...or through this Messaging Service (MG...); blank with no number: "
        "TELEPHONY_MESSAGING_SERVICE_SID.",
    )
    rate = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.01)],
        help_text="Message segments per second (calls: calls per second, default 1); "
        "blank: the sender's rate.",
    )
    start_at = models.DateTimeField(null=True, blank=True, help_text="Blank: at once.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    invalid_count = models.PositiveIntegerField(default=0, help_text="Rows that were no number.")
    duplicate_count = models.PositiveIntegerField(default=0)
    # Set by every batch a worker sends: a sending broadcast whose heartbeat is old lost
    # its worker (resume_broadcasts starts it again).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.name

    @property
    def is_call(self) -> bool:
        return self.kind == self.Kind.CALL

    @property
    def sender(self) -> str:
        if self.phone_number_id:
            return str(self.phone_number.number)
        return self.messaging_service_sid

    def sender_rate(self) -> float:
        """Segments per second: the broadcast's own rate, else its sender's. A call
        campaign: calls per second, its own rate (default 1), at most the account's
        TELEPHONY_ACCOUNT_MAX_CALL_RATE (Twilio's calls per second, 1 unless raised)."""
        if self.is_call:
            return min(float(self.rate or 1), float(settings.TELEPHONY_ACCOUNT_MAX_CALL_RATE))
        if self.rate:
            return float(self.rate)
        if self.phone_number_id:
            return float(self.phone_number.send_rate)
        return float(settings.TELEPHONY_MESSAGING_SERVICE_RATE)

    def clean(self):
        if self.is_call:
            return self._clean_call()
        errors = {}
        if not self.phone_number_id and not self.messaging_service_sid:
            self.messaging_service_sid = settings.TELEPHONY_MESSAGING_SERVICE_SID
        if self.phone_number_id and self.messaging_service_sid:
            errors["messaging_service_sid"] = "Give a number or a Messaging Service, not both."
        elif self.phone_number_id and not self.phone_number.sms_capable:
            errors["phone_number"] = f"{self.phone_number.number} cannot send SMS."
        elif not self.phone_number_id and not self.messaging_service_sid:
            errors["phone_number"] = (
                "Choose the number to send from, or a Messaging Service SID "
                "(or set TELEPHONY_MESSAGING_SERVICE_SID)."
            )
        elif self.messaging_service_sid and not MESSAGING_SERVICE_SID.fullmatch(
            self.messaging_service_sid
        ):
            errors["messaging_service_sid"] = (
                "A Messaging Service SID is MG followed by 32 hexadecimal digits."
            )
        if not self.body.strip() and not self.media_url:
            errors["body"] = "The message needs a body or a media URL."
        elif len(self.body) > SMS_MAX_CHARS:
            errors["body"] = f"An SMS holds at most {SMS_MAX_CHARS} characters."
        if errors:
            raise ValidationError(errors)

    def _clean_call(self):
        errors = {}
        if not self.flow_slug:
            errors["flow_slug"] = "Choose the call flow people hear when they answer."
        if not self.phone_number_id:
            errors["phone_number"] = "Choose the number to call from (the caller ID)."
        elif not self.phone_number.voice_capable:
            errors["phone_number"] = f"{self.phone_number.number} cannot make calls."
        if self.messaging_service_sid:
            errors["messaging_service_sid"] = "Calls go out from a number, not a Messaging Service."
        if self.body or self.media_url:
            errors["body"] = "A call campaign plays its flow: it has no text."
        if errors:
            raise ValidationError(errors)


class CallCampaignManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=Broadcast.Kind.CALL)


class CallCampaign(Broadcast):
    """A broadcast of kind "call", on its own admin page: each recipient is called and
    hears a flow (say, an appointment reminder: press 1 to confirm, 2 to talk to someone)."""

    objects = CallCampaignManager()

    class Meta:
        proxy = True
        verbose_name = "call campaign"

    def save(self, *args, **kwargs):
        self.kind = Broadcast.Kind.CALL
        super().save(*args, **kwargs)


class BroadcastRecipient(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"  # claimed by a worker
        SENT = "sent", "Sent"  # Twilio accepted it; delivery: its MessageLog's (CallLog's) status
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        UNKNOWN = "unknown", "Unknown"  # Twilio may or may not have sent it: never resent

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="recipients")
    # E.164 as phone_numbers.to_e164 wrote it (a CharField: 100,000 rows bulk-created).
    number = models.CharField(max_length=16)
    variables = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    skip_reason = models.CharField(max_length=200, blank=True)
    message = models.ForeignKey(
        MessageLog,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="broadcast_recipients",
    )
    call = models.ForeignKey(
        CallLog,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="broadcast_recipients",
    )
    # Calls: the first menu option the person chose (the keys pressed, or what they said),
    # set by the Gather webhook of their call.
    pressed = models.CharField("option pressed", max_length=64, blank=True)
    error_code = models.PositiveIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claim = models.CharField(max_length=32, blank=True)  # the worker's batch that holds it
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["broadcast", "number"], name="unique_broadcast_recipient"
            )
        ]
        indexes = [
            models.Index(fields=["broadcast", "state"], name="telephony_bcr_state"),
            models.Index(fields=["claim"], name="telephony_bcr_claim"),
        ]

    def __str__(self):
        return self.number

    @property
    def delivery(self) -> str:
        """The state staff read: for a sent message, where Twilio's status callbacks took
        it (delivered, undelivered, failed...); derived, so callbacks cost nothing extra."""
        if self.state == self.State.SENT and self.message is not None:
            return self.message.status
        if self.state == self.State.SENT and self.call is not None:
            return self.call.status
        return self.state

    @property
    def outcome(self) -> str:
        """A call's outcome from its status callbacks: answered, no answer, busy, failed,
        canceled; "calling" until the call ends; else the recipient's state."""
        if self.state == self.State.SENT and self.call is not None:
            return CALL_OUTCOMES.get(self.call.status, "calling")
        return self.state


class SendPace(models.Model):
    """The next free send time (epoch seconds) of one sender, or of the whole account;
    and, after Twilio said the sender's queue was full, how much slower it goes until
    when (telephony/sending/pace.py)."""

    key = models.CharField(max_length=64, unique=True)
    next_at = models.FloatField(default=0.0)
    slow_until = models.FloatField(default=0.0)  # epoch seconds
    slow_factor = models.FloatField(default=1.0)  # the share of the pace used until then

    def __str__(self):
        return self.key
