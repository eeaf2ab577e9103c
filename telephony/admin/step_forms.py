"""A step of the flow editor: only its verb's fields, labelled and explained for that verb.

`VERB_FIELDS` says, for each verb, which Step fields it uses and what staff read next to
each. The form has one field per verb and model field (`say_text`, `gather_text`, ...), all
rendered by the server in one fieldset per verb (class `step-for-<verb>`): without
JavaScript every fieldset shows, each headed by its verb; step_fields.js shows only the
chosen verb's. On save only the chosen verb's fields are read; every other field of the
step goes back to its default, so a step never keeps data its verb ignores. The model's
`clean()` errors (keyed by model field) are shown next to the chosen verb's field.

A step added on the page but left empty is validated like any other (an empty Say is an
error that says so), never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.utils.text import Truncator

from telephony.admin.flow_targets import FlowDirectory, FlowTargetField, save_new_targets
from telephony.models import CallFlow, Step

REPEAT_HELP = "0 repeats it until the caller hangs up."
NO_CHOICE = "blank: the steps after this one"


@dataclass(frozen=True)
class VerbField:
    name: str  # the Step field
    label: str
    help_text: str = ""


VERB_FIELDS: dict[str, list[VerbField]] = {
    Step.Verb.SAY: [
        VerbField(
            "text", "What callers hear", "Type it as you would say it: Twilio reads it aloud."
        ),
        VerbField("voice", "Voice", "e.g. Polly.Joanna; blank: Twilio's standard voice."),
        VerbField("language", "Language", "e.g. en-US or fr-FR; blank: American English."),
        VerbField("loop", "Times to say it", REPEAT_HELP),
    ],
    Step.Verb.PLAY: [
        VerbField("url", "Audio file", "The web address of an MP3 or WAV file."),
        VerbField("loop", "Times to play it", REPEAT_HELP),
    ],
    Step.Verb.PAUSE: [
        VerbField("length", "Seconds of silence", "From 1 to 600."),
    ],
    Step.Verb.GATHER: [
        VerbField(
            "text",
            "What callers hear",
            "The menu, e.g. “For billing, press 1. For opening hours, press 2.” Where each "
            "key leads is set under Menu options below.",
        ),
        VerbField("url", "Or play audio", "Optional: the web address of a recorded menu."),
        VerbField("voice", "Voice", "e.g. Polly.Joanna; blank: Twilio's standard voice."),
        VerbField("language", "Language", "Of the prompt and of the words callers say."),
        VerbField("input", "Callers answer by", "Pressing keys, saying words, or either."),
        VerbField(
            "num_digits",
            "Keys to wait for",
            "e.g. 1 for a one-key menu; blank: until the caller presses # or stops.",
        ),
        VerbField("timeout", "Seconds to wait", "For the caller to answer (default 5)."),
        VerbField("finish_on_key", "Key that ends the answer", "Blank: #."),
        VerbField(
            "tries",
            "Times to ask",
            "When callers press nothing or a key no option has, the menu is asked again, "
            "up to this many times.",
        ),
        VerbField(
            "give_up_flow",
            "If they never choose",
            "Where callers go after the last try, e.g. voicemail; blank: the steps after "
            "this one, or a polite goodbye.",
        ),
    ],
    Step.Verb.DIAL: [
        VerbField("dial_kind", "Ring", "A phone number, a Twilio Client app, or a queue."),
        VerbField(
            "dial_target",
            "Number to ring",
            "In international format, e.g. +14155550100 (or the client's or queue's name).",
        ),
        VerbField("timeout", "Seconds to ring", "Default 30."),
        VerbField(
            "next_flow",
            "If nobody answers",
            f"e.g. voicemail, when busy or unanswered; {NO_CHOICE}.",
        ),
        VerbField(
            "ring_others",
            "Also ring",
            "More people, one per line: numbers (+14155550100) or client:name. Up to 9.",
        ),
        VerbField(
            "ring_mode", "Ring them", "All at once (the first to answer takes it) or in turn."
        ),
        VerbField(
            "screen",
            "Screen calls",
            "The person answering must press 1 to take the call, so it never ends up in "
            "their personal voicemail.",
        ),
        VerbField(
            "text",
            "What the person answering hears",
            "With screening; blank: “Call for” and this flow's name.",
        ),
        VerbField("caller_id", "Caller ID shown", "One of our numbers or a verified caller ID."),
        VerbField("record", "Record the call", "From the moment it is answered."),
        VerbField("answered_flow", "After an answered call", "Blank: hang up."),
    ],
    Step.Verb.RECORD: [
        VerbField("box", "Voicemail box", "Who may listen to the message, and who is told of it."),
        VerbField("max_length", "Longest message, in seconds", "Default 3600."),
        VerbField("play_beep", "Beep first", ""),
        VerbField("transcribe", "Transcribe", "Twilio types out the message (English only)."),
        VerbField("finish_on_key", "Key that ends the message", "Blank: any key."),
        VerbField("next_flow", "After the message", f"{NO_CHOICE}."),
    ],
    Step.Verb.REDIRECT: [
        VerbField("next_flow", "Go to flow", "The flow callers go on with."),
        VerbField("url", "Or a web address", "Instead of a flow: a TwiML URL (https://...)."),
    ],
    Step.Verb.ENQUEUE: [
        VerbField("dial_target", "Queue name", "Letters, digits and _ . - only, e.g. support."),
        VerbField(
            "url", "Hold music", "The web address of an audio file callers hear while waiting."
        ),
        VerbField("next_flow", "If they leave the queue", f"Unanswered; {NO_CHOICE}."),
    ],
    Step.Verb.REJECT: [
        VerbField("reason", "Callers hear", "A busy tone, or the call is refused."),
    ],
    Step.Verb.HANGUP: [],
    Step.Verb.SMS: [
        VerbField("text", "Text message", "Sent to the caller's phone, up to 1600 characters."),
        VerbField("url", "Picture", "Optional: the web address of an image sent with it (MMS)."),
    ],
    Step.Verb.CONFERENCE: [
        VerbField(
            "dial_target", "Room name", "e.g. Weekly sales: callers of this step meet there."
        ),
        VerbField("url", "Hold music", "Played until the room starts (an audio file's address)."),
        VerbField(
            "moderators",
            "Moderators",
            "Their numbers, one per line: the room starts when one joins and ends when they "
            "leave; blank: it starts with the first caller.",
        ),
        VerbField("max_participants", "Most callers at once", "From 2 to 250 (default 250)."),
        VerbField("record", "Record the room", ""),
        VerbField("next_flow", "After the conference", f"{NO_CHOICE}."),
    ],
    Step.Verb.HOURS: [
        VerbField("schedule", "Schedule", "The open hours, closed dates and holidays to follow."),
        VerbField("open_flow", "While open, go to", f"{NO_CHOICE}."),
        VerbField("next_flow", "While closed, go to", f"{NO_CHOICE}."),
    ],
}

# Every Step field some verb uses: what a save resets when the chosen verb does not.
VERB_FIELD_NAMES = sorted({f.name for fields in VERB_FIELDS.values() for f in fields})
FLOW_FIELDS = [
    f.name
    for f in Step._meta.get_fields()
    if getattr(f, "related_model", None) is CallFlow and f.name != "flow"
]
LISTEN_FIELDS = {(Step.Verb.SAY, "text"), (Step.Verb.GATHER, "text")}


def form_field_name(verb: str, name: str) -> str:
    return f"{verb}_{name}"


class ListenTextarea(forms.Textarea):
    """A text box with a "Listen" button (listen.js reads the text aloud in the browser
    with the Web Speech API; the button stays hidden where the browser has none)."""

    template_name = "django/forms/widgets/textarea.html"

    def render(self, name, value, attrs=None, renderer=None):
        from django.utils.html import format_html

        html = super().render(name, value, attrs, renderer)
        return format_html(
            '{}<button type="button" class="listen-button" hidden data-listen="{}">Listen</button>',
            html,
            (attrs or {}).get("id", ""),
        )


def _form_field(verb: str, spec: VerbField) -> forms.Field:
    model_field = Step._meta.get_field(spec.name)
    if spec.name in FLOW_FIELDS:
        field = FlowTargetField(label=spec.label, help_text=spec.help_text)
    else:
        extra = {"assume_scheme": "https"} if isinstance(model_field, models.URLField) else {}
        field = model_field.formfield(label=spec.label, help_text=spec.help_text, **extra)
        field.required = False
    if (verb, spec.name) in LISTEN_FIELDS:
        field.widget = ListenTextarea(attrs={"rows": 3, "class": "vLargeTextField"})
    elif spec.name == "text":
        field.widget.attrs["rows"] = 3
    return field


def _declared_fields() -> dict[str, forms.Field]:
    return {
        form_field_name(verb, spec.name): _form_field(verb, spec)
        for verb, specs in VERB_FIELDS.items()
        for spec in specs
    }


def verb_fieldsets() -> list[tuple[str, dict]]:
    """One admin fieldset per verb that has fields, marked with the verb it belongs to."""
    return [
        (
            f"{Step.Verb(verb).label} step",
            {
                "fields": [form_field_name(verb, spec.name) for spec in specs],
                "classes": ["step-verb-fields", f"step-for-{verb}"],
            },
        )
        for verb, specs in VERB_FIELDS.items()
        if specs
    ]


class StepFormBase(forms.ModelForm):
    """Reads the chosen verb's fields into the step; see the module docstring."""

    directory: FlowDirectory | None = None

    class Meta:
        model = Step
        fields = ["position", "verb"]

    def __init__(self, *args, directory: FlowDirectory | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.directory = directory or FlowDirectory()
        self.fields["position"].required = False
        self.fields["position"].label = "Order"
        self.fields["position"].help_text = "1 runs first."
        self.fields["verb"].label = "Step"
        if self.instance.pk is None:
            # A new step has no place yet (it goes last): never show 0.
            self.initial["position"] = None
        for verb, specs in VERB_FIELDS.items():
            for spec in specs:
                name = form_field_name(verb, spec.name)
                field = self.fields[name]
                if isinstance(field, FlowTargetField):
                    field.use_directory(self.directory)
                # Every verb's copy starts from the stored value: switching a Say to a
                # Gather keeps its text.
                if self.instance.pk is not None and name not in self.initial:
                    attname = Step._meta.get_field(spec.name).attname  # a pk: no query
                    self.initial[name] = getattr(self.instance, attname)

    def clean(self):
        cleaned = super().clean()
        verb = cleaned.get("verb")
        if verb not in VERB_FIELDS:
            return cleaned
        chosen = {spec.name: form_field_name(verb, spec.name) for spec in VERB_FIELDS[verb]}
        for name in VERB_FIELD_NAMES:
            model_field = Step._meta.get_field(name)
            if name in chosen and chosen[name] in cleaned:
                value = cleaned[chosen[name]]
                if value is None and not model_field.null:
                    value = model_field.get_default()
                if not model_field.is_relation:
                    # The model's own checks of the field (e.g. 1 to 600 seconds), which
                    # full_clean() skips: the form field is not named after it.
                    try:
                        value = model_field.clean(value, self.instance)
                    except ValidationError as error:
                        self.add_error(chosen[name], error)
                        continue
            elif name in chosen:
                continue  # its own error is shown already; keep the stored value
            else:
                value = model_field.get_default()
            setattr(self.instance, name, value)
        return cleaned

    def add_error(self, field, error):
        """The model's errors name Step fields: show each next to the chosen verb's field
        (or above the step when the verb has no such field)."""
        if field is None and hasattr(error, "error_dict"):
            verb = self.cleaned_data.get("verb") if hasattr(self, "cleaned_data") else None
            renamed: dict[str, list] = {}
            for name, errors in error.error_dict.items():
                target = NON_FIELD_ERRORS
                if name in self.fields:
                    target = name
                elif verb and form_field_name(verb, name) in self.fields:
                    target = form_field_name(verb, name)
                renamed.setdefault(target, []).extend(errors)
            error = ValidationError(renamed)
        super().add_error(field, error)

    @property
    def title(self) -> str:
        return step_title(self.instance)

    def save(self, commit=True):
        save_new_targets(self.instance, FLOW_FIELDS, self.directory)
        return super().save(commit)


StepForm = type("StepForm", (StepFormBase,), _declared_fields())


def step_title(step: Step) -> str:
    """A step as staff name it: "Say: Thank you for calling...", "Dial: +14155550100"."""
    verb = Step.Verb(step.verb).label if step.verb in Step.Verb.values else step.verb
    detail = {
        Step.Verb.SAY: step.text,
        Step.Verb.GATHER: step.text or step.url,
        Step.Verb.SMS: step.text,
        Step.Verb.PLAY: step.url,
        Step.Verb.PAUSE: f"{step.length} s",
        Step.Verb.DIAL: step.dial_target,
        Step.Verb.ENQUEUE: step.dial_target,
        Step.Verb.CONFERENCE: step.dial_target,
        Step.Verb.REJECT: step.get_reason_display() if step.reason else "",
    }.get(step.verb, "")
    detail = Truncator(" ".join(str(detail or "").split())).chars(60)
    return f"{verb}: {detail}" if detail else verb
