"""Call flows: a CallFlow is one node of the caller's graph, an ordered list of Steps.

Each Step is one TwiML verb with its attributes. Branching happens where Twilio branches:
a flow's menu options (digits or spoken words -> another flow) answer its Gather, and
Dial, Record, Enqueue and Redirect steps name the flow that comes next.

Every multi-field rule lives in `clean()` so the admin shows it next to the field. Flows
have their slug as natural key; steps and options are keyed by their flow, so fixtures
move between environments intact.
"""

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from phonenumber_field.modelfields import PhoneNumberField

from telephony.models.limits import SAY_MAX_CHARS, SMS_MAX_CHARS
from telephony.models.numbers import is_our_caller_id
from telephony.phone_numbers import e164


class CallFlowManager(models.Manager):
    def get_by_natural_key(self, slug):
        return self.get(slug=slug)


class CallFlow(models.Model):
    """A named node of the call graph: what the caller hears, in order."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(
        max_length=100,
        unique=True,
        help_text="Used in the flow's webhook URL: /twilio/voice/flows/<slug>/.",
    )
    description = models.TextField(blank=True)
    is_active = models.BooleanField(
        default=True, help_text="Inactive flows answer with a polite goodbye instead."
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = CallFlowManager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def natural_key(self):
        return (self.slug,)

    def get_webhook_path(self):
        return reverse("telephony:flow", kwargs={"slug": self.slug})


class StepManager(models.Manager):
    def get_by_natural_key(self, flow_slug, position):
        return self.get(flow__slug=flow_slug, position=position)


def renumber_steps(flow: "CallFlow") -> None:
    """Positions 1..n in the current order, so (flow, position) stays a natural key."""
    steps = list(flow.steps.order_by("position", "pk"))
    changed = []
    for index, step in enumerate(steps, start=1):
        if step.position != index:
            step.position = index
            changed.append(step)
    Step.objects.bulk_update(changed, ["position"])


class Step(models.Model):
    """One TwiML verb in a flow. Which fields matter depends on the verb."""

    class Verb(models.TextChoices):
        SAY = "say", "Say"
        PLAY = "play", "Play"
        PAUSE = "pause", "Pause"
        GATHER = "gather", "Gather (menu)"
        DIAL = "dial", "Dial"
        RECORD = "record", "Record"
        REDIRECT = "redirect", "Redirect"
        ENQUEUE = "enqueue", "Enqueue"
        REJECT = "reject", "Reject"
        HANGUP = "hangup", "Hangup"
        SMS = "sms", "Sms (text the caller)"
        CONFERENCE = "conference", "Conference"
        HOURS = "hours", "Hours (open or closed)"

    class GatherInput(models.TextChoices):
        DTMF = "dtmf", "Keypad"
        SPEECH = "speech", "Speech"
        BOTH = "dtmf speech", "Keypad or speech"

    class DialKind(models.TextChoices):
        NUMBER = "number", "Phone number"
        CLIENT = "client", "Twilio Client identity"
        QUEUE = "queue", "Queue"

    class RingMode(models.TextChoices):
        TOGETHER = "together", "All at once"
        IN_TURN = "in_turn", "One after another"

    class RejectReason(models.TextChoices):
        REJECTED = "rejected", "Rejected"
        BUSY = "busy", "Busy"

    flow = models.ForeignKey(CallFlow, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(default=0, help_text="Steps run in this order.")
    verb = models.CharField(max_length=10, choices=Verb.choices, default=Verb.SAY)

    # Say text, or the prompt a Gather says.
    text = models.TextField(
        blank=True, help_text="Say: what to say. Gather: the prompt (optional)."
    )
    voice = models.CharField(max_length=50, blank=True, help_text="e.g. alice, Polly.Joanna")
    language = models.CharField(max_length=10, blank=True, help_text="e.g. en-US")
    loop = models.PositiveSmallIntegerField(
        default=1,
        validators=[MaxValueValidator(1000)],
        help_text="Say/Play: times to repeat; 0 repeats until the call ends.",
    )
    # Play audio, a Gather's prompt audio, Enqueue wait music, or a Redirect's absolute URL.
    url = models.URLField(
        "URL",
        max_length=500,
        blank=True,
        help_text="Play: audio URL. Gather: prompt audio. Enqueue: wait music. Redirect: absolute URL.",
    )
    length = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(600)],
        help_text="Pause: seconds of silence.",
    )

    # Gather
    input = models.CharField(
        max_length=11, choices=GatherInput.choices, default=GatherInput.DTMF, blank=True
    )
    num_digits = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Gather: stop after this many keys (blank: no limit)."
    )
    timeout = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(600)],
        help_text="Gather: seconds to wait for input (default 5). Dial: seconds to ring (default 30).",
    )
    finish_on_key = models.CharField(
        max_length=1,
        blank=True,
        validators=[RegexValidator(r"^[0-9*#]$", "Use one key: 0-9, * or #.")],
        help_text="Gather/Record: the key that ends input (Twilio's default is #).",
    )
    tries = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="Gather: how many times the menu is asked when the caller presses nothing "
        "or a key no option has, before giving up.",
    )
    give_up_flow = models.ForeignKey(
        CallFlow,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="given_up_from_steps",
        help_text="Gather: where a caller goes who made no choice after the last try, e.g. "
        "voicemail (blank: the steps after the menu, or a polite goodbye if there are none).",
    )

    # Dial / Enqueue
    dial_kind = models.CharField(
        max_length=6, choices=DialKind.choices, default=DialKind.NUMBER, blank=True
    )
    dial_target = models.CharField(
        max_length=128,
        blank=True,
        help_text="Dial: the number (E.164), client identity or queue name. Enqueue: the queue name.",
    )
    caller_id = PhoneNumberField(
        blank=True, help_text="Dial: one of our numbers or a verified caller ID."
    )
    record = models.BooleanField(default=False, help_text="Dial: record the call from answer.")
    ring_others = models.TextField(
        "also ring",
        blank=True,
        help_text="Dial: more people to ring, one per line: numbers (E.164) or, for a "
        "Twilio Client identity, client:name. Up to 9.",
    )
    ring_mode = models.CharField(
        max_length=8,
        choices=RingMode.choices,
        default=RingMode.TOGETHER,
        blank=True,
        help_text="Dial with several people: ring them all at once (the first to answer "
        "takes the call), or one after another, each for the ring timeout.",
    )
    moderators = models.TextField(
        blank=True,
        help_text="Conference: the numbers (E.164) of its moderators, one per line: the "
        "room starts when one joins (the others hear the hold music until then) and ends "
        "when they leave. Blank: it starts with the first caller.",
    )
    max_participants = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(2), MaxValueValidator(250)],
        help_text="Conference: the most callers in the room at once (Twilio's default: 250).",
    )
    screen = models.BooleanField(
        "screen calls",
        default=False,
        help_text="Dial: the person answering hears 'Call for <flow>, press 1 to accept' "
        "(or this step's text); a call nobody accepts counts as unanswered, so it never ends "
        "in someone's personal voicemail.",
    )
    answered_flow = models.ForeignKey(
        CallFlow,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="answered_from_steps",
        help_text="Dial: where the caller goes after a call that was answered (blank: hang up).",
    )

    # Record
    max_length = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(14400)],
        help_text="Record: longest recording in seconds (default 3600).",
    )
    play_beep = models.BooleanField(default=True, help_text="Record: beep before recording.")
    transcribe = models.BooleanField(default=False, help_text="Record: ask Twilio to transcribe.")
    box = models.ForeignKey(
        "telephony.VoicemailBox",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="steps",
        help_text="Record: the voicemail box the message goes to (who may listen, who is told).",
    )

    # Reject
    reason = models.CharField(
        max_length=8, choices=RejectReason.choices, default=RejectReason.REJECTED, blank=True
    )

    # Hours: the schedule that says whether the line is open now, and where open callers
    # go (closed callers go to `next_flow`; blank: both go on with the steps after it).
    schedule = models.ForeignKey(
        "telephony.Schedule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="steps",
        help_text="Hours: the schedule that says when the line is open.",
    )
    open_flow = models.ForeignKey(
        CallFlow,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="opened_from_steps",
        verbose_name="if open",
        help_text="Hours: where callers go while open (blank: the steps after this one).",
    )

    # Where the caller goes next: Redirect target; Record: after recording; Dial: when
    # nobody answers (busy, no-answer, failed); Enqueue: when the caller leaves the queue;
    # Hours: while closed.
    next_flow = models.ForeignKey(
        CallFlow,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="entered_from_steps",
        help_text=(
            "Redirect: the flow to go to. Record: after recording. Dial: when nobody answers. "
            "Enqueue: when the caller leaves the queue unanswered. Hours: while closed "
            "(blank: the steps after this one)."
        ),
    )

    objects = StepManager()

    class Meta:
        # Positions are kept unique per flow by the admin (which renumbers them 1..n on
        # save) rather than by a constraint, so staff can swap two steps in one save.
        ordering = ["flow", "position", "pk"]

    def __str__(self):
        return f"{self.flow.slug} #{self.position} {self.get_verb_display()}"

    def natural_key(self):
        return (self.flow.slug, self.position)

    natural_key.dependencies = ["telephony.callflow"]

    # --- validation -------------------------------------------------------------------

    def clean(self):
        errors = {}
        check = getattr(self, f"_clean_{self.verb}", None)
        if check:
            check(errors)
        if errors:
            raise ValidationError(errors)

    def _clean_say(self, errors):
        if not self.text.strip():
            errors["text"] = (
                "This Say step has no text: type what callers hear, or remove the step."
            )
        elif len(self.text) > SAY_MAX_CHARS:
            errors["text"] = (
                f"Twilio says at most {SAY_MAX_CHARS} characters; this text has {len(self.text)}."
            )

    def _clean_play(self, errors):
        if not self.url:
            errors["url"] = "Play needs the URL of the audio file."

    def _clean_gather(self, errors):
        if len(self.text) > SAY_MAX_CHARS:
            errors["text"] = (
                f"Twilio says at most {SAY_MAX_CHARS} characters; this prompt has {len(self.text)}."
            )
        if self.num_digits is not None and self.num_digits < 1:
            errors["num_digits"] = "numDigits must be at least 1 (or blank for no limit)."
        if self.timeout is not None and self.timeout < 1:
            errors["timeout"] = "The timeout must be at least 1 second."
        if not self.input:
            errors["input"] = "Choose what the Gather listens for."
        if self.give_up_flow_id is not None and self.give_up_flow_id == self.flow_id:
            errors["give_up_flow"] = (
                "Giving up cannot lead back to this menu: callers would never get out. "
                "Choose another flow (e.g. voicemail), or leave it blank."
            )

    def _clean_dial(self, errors):
        target = self.dial_target.strip()
        if not target:
            errors["dial_target"] = "Dial needs a number, client identity or queue name."
        elif self.dial_kind == self.DialKind.NUMBER:
            from phonenumber_field.phonenumber import to_python

            number = to_python(target)
            if number is None or not number.is_valid():
                errors["dial_target"] = (
                    "Enter a valid phone number in E.164 format, e.g. +14155550100."
                )
            else:
                self.dial_target = number.as_e164
        elif not re.fullmatch(r"[A-Za-z0-9_.\-@]+", target):
            errors["dial_target"] = (
                "Use letters, digits and _ . - @ only for a client identity or queue name."
            )
        if self.timeout is not None and self.timeout < 1:
            errors["timeout"] = "The ring timeout must be at least 1 second."
        if self.ring_others.strip():
            if self.dial_kind == self.DialKind.QUEUE:
                errors["ring_others"] = (
                    "A queue is answered by whoever takes it: ring people instead."
                )
            else:
                self._clean_ring_others(errors)
        if self.caller_id and not is_our_caller_id(self.caller_id):
            errors["caller_id"] = (
                f"{self.caller_id} is neither one of our numbers nor a verified caller ID; "
                "Twilio would reject the call. Add it under Phone numbers or Verified caller IDs."
            )

    def _clean_ring_others(self, errors):
        lines = [line.strip() for line in self.ring_others.splitlines() if line.strip()]
        cleaned, bad = [], []
        for line in lines:
            target = ring_target(line)
            if target is None:
                bad.append(line)
            else:
                cleaned.append(target[1] if target[0] == self.DialKind.NUMBER else line)
        if bad:
            errors["ring_others"] = (
                f"Not a number (E.164, e.g. +14155550100) or client:name: {', '.join(bad)}."
            )
        elif len(lines) > 9:
            errors["ring_others"] = "Twilio rings at most 10 people at once: list 9 at most here."
        else:
            self.ring_others = "\n".join(cleaned)

    def ring_targets(self) -> list[tuple[str, str]]:
        """Everyone this Dial rings, in order: (kind, number or identity)."""
        first = (self.dial_kind or self.DialKind.NUMBER, self.dial_target.strip())
        others = [ring_target(line.strip()) for line in self.ring_others.splitlines()]
        return [first, *(target for target in others if target is not None)]

    def _clean_conference(self, errors):
        room = self.dial_target.strip()
        if not room:
            errors["dial_target"] = "A conference needs the room's name, e.g. Weekly sales."
        elif len(room) > 128:
            errors["dial_target"] = "Room names are at most 128 characters."
        lines = [line.strip() for line in self.moderators.splitlines() if line.strip()]
        numbers = [e164(line) for line in lines]
        bad = [line for line, number in zip(lines, numbers, strict=True) if number is None]
        if bad:
            errors["moderators"] = f"Not a number (E.164, e.g. +14155550100): {', '.join(bad)}."
        else:
            self.moderators = "\n".join(numbers)

    def moderator_numbers(self) -> frozenset[str]:
        return frozenset(line.strip() for line in self.moderators.splitlines() if line.strip())

    def _clean_record(self, errors):
        if self.max_length is not None and self.max_length < 1:
            errors["max_length"] = "The longest recording must be at least 1 second."
        if self.box_id is None:
            from telephony.models.voicemail import VoicemailBox

            if VoicemailBox.objects.exists():
                errors["box"] = (
                    "Choose the voicemail box this message goes to: without one, nobody is "
                    "told of it and only superusers can listen."
                )

    def _clean_redirect(self, errors):
        if not self.next_flow and not self.url:
            errors["next_flow"] = "Redirect needs a flow to go to, or an absolute URL."
        elif self.next_flow and self.url:
            errors["url"] = "Choose either a flow or a URL to redirect to, not both."

    def _clean_enqueue(self, errors):
        if not self.dial_target.strip():
            errors["dial_target"] = "Enqueue needs the queue name."
        elif not re.fullmatch(r"[A-Za-z0-9_.\-]+", self.dial_target.strip()):
            errors["dial_target"] = "Use letters, digits and _ . - only for a queue name."
        elif len(self.dial_target.strip()) > 64:
            errors["dial_target"] = "Twilio queue names are at most 64 characters."

    def _clean_reject(self, errors):
        if not self.reason:
            errors["reason"] = "Choose busy or rejected."

    def _clean_hours(self, errors):
        if self.schedule_id is None:
            errors["schedule"] = "Hours needs the schedule that says when the line is open."
        # A target may be a flow the same save creates (unsaved yet, so no id): see
        # telephony/admin/flow_targets.py.
        if not _chosen(self, "open_flow") and not _chosen(self, "next_flow"):
            errors["next_flow"] = (
                "Choose where callers go while closed (here) or while open (If open): with "
                "neither, both go on with the steps after this one and the step does nothing."
            )
        elif self.open_flow_id is not None and self.open_flow_id == self.next_flow_id:
            errors["next_flow"] = "Open and closed callers go to the same flow: choose another."

    def _clean_sms(self, errors):
        # The message goes to the caller; `text` is its body, `url` an optional media URL.
        if not self.text.strip():
            errors["text"] = (
                "This Sms step has no text: type the message the caller gets, or remove the step."
            )
        elif len(self.text) > SMS_MAX_CHARS:
            errors["text"] = (
                f"An SMS holds at most {SMS_MAX_CHARS} characters; this text has {len(self.text)}."
            )


def _chosen(obj: models.Model, name: str) -> bool:
    """Whether foreign key `name` points somewhere: a saved row, or an unsaved one the
    same save creates first (no query when the id is set)."""
    return getattr(obj, f"{name}_id") is not None or getattr(obj, name) is not None


def ring_target(text: str) -> tuple[str, str] | None:
    """One line of a Dial's "also ring": ("number", E.164) or ("client", identity)."""
    if text.lower().startswith("client:"):
        identity = text[len("client:") :].strip()
        if re.fullmatch(r"[A-Za-z0-9_.\-@]+", identity):
            return (Step.DialKind.CLIENT, identity)
        return None
    from phonenumber_field.phonenumber import to_python

    number = to_python(text)
    if number is None or not number.is_valid():
        return None
    return (Step.DialKind.NUMBER, number.as_e164)


class MenuOptionManager(models.Manager):
    def get_by_natural_key(self, flow_slug, digits, phrase):
        return self.get(flow__slug=flow_slug, digits=digits, phrase=phrase)


class MenuOption(models.Model):
    """An answer to a flow's Gather: keys pressed or words spoken -> another flow."""

    flow = models.ForeignKey(CallFlow, on_delete=models.CASCADE, related_name="options")
    digits = models.CharField(
        max_length=20,
        blank=True,
        validators=[RegexValidator(r"^[0-9*#]+$", "Use keypad keys only: 0-9, * and #.")],
        help_text="The keys the caller presses, e.g. 1.",
    )
    phrase = models.CharField(
        max_length=100,
        blank=True,
        help_text="Words the caller may say instead, e.g. sales (when the Gather listens for speech).",
    )
    target_flow = models.ForeignKey(
        CallFlow,
        null=True,
        on_delete=models.SET_NULL,
        related_name="incoming_options",
        help_text="Where the caller goes.",
    )

    objects = MenuOptionManager()

    class Meta:
        ordering = ["flow", "digits", "phrase"]
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "digits"],
                condition=~models.Q(digits=""),
                name="unique_option_digits",
                violation_error_message="Another option of this flow already uses these keys.",
            ),
            models.UniqueConstraint(
                fields=["flow", "digits", "phrase"],
                name="unique_option",
                violation_error_message="This flow already has this option.",
            ),
        ]

    def __str__(self):
        label = self.digits or f'"{self.phrase}"'
        return f"{self.flow.slug}: {label} -> {self.target_flow.slug if self.target_flow else '?'}"

    def natural_key(self):
        return (self.flow.slug, self.digits, self.phrase)

    natural_key.dependencies = ["telephony.callflow"]

    def clean(self):
        errors = {}
        if not self.digits and not self.phrase.strip():
            errors["digits"] = "Give the keys to press, the words to say, or both."
        if not _chosen(self, "target_flow"):
            errors["target_flow"] = "Choose the flow this option leads to."
        if errors:
            raise ValidationError(errors)


def option_fits_gather(digits: str, gather: Step) -> str | None:
    """Why `digits` cannot be entered at `gather`, or None when it can."""
    if not digits:
        return None
    if gather.input == Step.GatherInput.SPEECH:
        return "the Gather listens for speech only, so keys are never sent"
    if gather.num_digits and len(digits) > gather.num_digits:
        return f"the Gather stops after {gather.num_digits} key(s), so '{digits}' cannot be entered"
    finish = gather.finish_on_key or "#"
    if finish in digits:
        return f"'{finish}' ends the Gather's input, so it cannot be part of an option"
    return None
