"""SMS auto-replies (SmsRule) and the numbers that asked us to stop texting (OptOut)."""

from django.core.exceptions import ValidationError
from django.db import models
from phonenumber_field.modelfields import PhoneNumberField

from telephony.models.limits import SMS_MAX_CHARS
from telephony.models.numbers import PhoneNumber

# Keywords Twilio (and US carriers) treat as opt-out / opt-in / help; see README, "Inbound SMS".
OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
RESERVED_KEYWORDS = OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS


def normalize_keyword(text: str) -> str:
    """How an inbound message is compared with a keyword: trimmed, one space, upper case."""
    return " ".join(text.split()).upper()


class SmsRuleManager(models.Manager):
    def get_by_natural_key(self, number, keyword):
        return self.get(phone_number__number=number, keyword=keyword)


class SmsRule(models.Model):
    """An SMS auto-reply of one number: a keyword and its reply. A blank keyword is the
    default reply, sent when no keyword matches."""

    phone_number = models.ForeignKey(
        PhoneNumber, on_delete=models.CASCADE, related_name="sms_rules"
    )
    keyword = models.CharField(
        max_length=160,
        blank=True,
        help_text="The whole message, any case, e.g. HOURS. Leave blank for the default reply.",
    )
    reply = models.TextField(
        blank=True, help_text=f"The reply text (at most {SMS_MAX_CHARS} characters)."
    )
    media_url = models.URLField(
        "media URL", max_length=500, blank=True, help_text="Optional image or file to attach (MMS)."
    )

    objects = SmsRuleManager()

    class Meta:
        ordering = ["phone_number", "keyword"]
        verbose_name = "SMS rule"
        constraints = [
            models.UniqueConstraint(
                fields=["phone_number", "keyword"],
                name="unique_sms_rule_keyword",
                violation_error_message="This number already has a rule for this keyword.",
            )
        ]

    def __str__(self):
        return f"{self.phone_number.number}: {self.keyword or '(default reply)'}"

    def natural_key(self):
        return (*self.phone_number.natural_key(), self.keyword)

    natural_key.dependencies = ["telephony.phonenumber"]

    def clean(self):
        self.keyword = normalize_keyword(self.keyword)
        errors = {}
        if self.keyword in RESERVED_KEYWORDS:
            errors["keyword"] = (
                f"{self.keyword} is an opt-out/opt-in keyword handled for every number; "
                "choose another keyword."
            )
        if not self.reply.strip() and not self.media_url:
            errors["reply"] = "Give the reply text, a media URL, or both."
        elif len(self.reply) > SMS_MAX_CHARS:
            errors["reply"] = (
                f"An SMS holds at most {SMS_MAX_CHARS} characters; this reply has {len(self.reply)}."
            )
        if errors:
            raise ValidationError(errors)


class OptOut(models.Model):
    """A number that asked us to stop texting it. `send_sms()` refuses to text it."""

    class Source(models.TextChoices):
        KEYWORD = "keyword", "Sent an opt-out keyword"
        TWILIO = "twilio", "Twilio error 21610"
        STAFF = "staff", "Added by staff"

    number = PhoneNumberField(unique=True, help_text="E.164, e.g. +14155550100.")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.STAFF)
    keyword = models.CharField(max_length=160, blank=True, help_text="What they sent, if any.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "SMS opt-out"

    def __str__(self):
        return str(self.number)
