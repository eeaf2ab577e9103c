"""Flow templates: the common shapes of a phone line, created as draft flows in one call.

    create_from_template("forward_voicemail", name="Billing", forward_to="+14155550100")

creates the flow "Billing" (and what its shape needs: a voicemail flow, a voicemail box,
a schedule, the flows a menu's options lead to), reusing a box, schedule or flow that
already exists under the name asked for. Everything is created in the draft, in one
transaction, each row `full_clean()`ed first; nothing reaches callers until somebody
publishes. Every template's result passes the flow checks without errors
(tools/flow_checks.py) and plays through the call simulator.

A bad parameter (a number that is no phone number, say) raises `ValidationError` keyed
by the parameter's name, so a form can show it next to its field. `template_choices()`
feeds a form's select, with "Empty flow" (key "", no steps) first.
`fill_from_template(flow, key, **params)` gives an existing empty flow a template's steps
(the editor creates an option's target by name, then fills it).

Shapes (the keys of `TEMPLATES`):

- `menu`: a greeting and a menu (Gather) with options, by default 1 -> "Sales" and
  2 -> "Support". An option's flow is one that exists by that name, or a new flow that
  says where the caller got to, for staff to fill in.
- `forward_voicemail`: rings a number; if nobody answers, a voicemail flow records a
  message into a box.
- `after_hours`: an Hours step on a schedule (default "Office hours": Monday to Friday,
  9 to 5): open callers go to a flow, closed callers hear a message and leave a voicemail.
- `queue`: callers wait in a queue with hold music; leaving it unanswered, voicemail.
- `text_address`: says so, texts the caller the address (Sms step), says goodbye.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.text import slugify

from telephony.models import (
    CallFlow,
    MenuOption,
    OpenRange,
    Schedule,
    Step,
    VoicemailBox,
    renumber_steps,
)

DEFAULT_FORWARD_TO = "+14155550100"  # a fictional 555-01xx number: staff put theirs in
DEFAULT_BOX = "Front desk"
DEFAULT_SCHEDULE = "Office hours"
DEFAULT_OPTIONS = (("1", "Sales"), ("2", "Support"))
DEFAULT_ADDRESS = "Our address: 500 Example Street, San Francisco, CA 94107."
# Twilio's own public hold music (the twimlet Twilio's docs use for <Enqueue waitUrl>).
DEFAULT_HOLD_MUSIC = "https://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"
EMPTY = ""  # the key of "Empty flow" in template_choices()


@dataclass(frozen=True)
class Param:
    """A parameter a template takes: all are optional, with the default shown to staff."""

    name: str
    label: str
    help_text: str = ""


@dataclass(frozen=True)
class Template:
    """One shape of flow. `build(flow, params)` adds the steps (and whatever else the shape
    needs) to the new, saved, empty `flow`; `params` holds only names from `params`."""

    key: str
    label: str
    description: str
    build: Callable[[CallFlow, dict], None]
    params: tuple[Param, ...] = field(default=())

    @property
    def param_names(self) -> frozenset[str]:
        return frozenset(param.name for param in self.params)


# --- saving, with errors named after the parameter that caused them ------------------------


def _save(obj: models.Model, params_of_fields: dict[str, str] | None = None):
    """full_clean() and save `obj`; errors on a field a parameter filled are re-keyed to
    that parameter (e.g. a Dial's dial_target -> forward_to), the rest to the flow's name."""
    try:
        obj.full_clean()
    except ValidationError as error:
        mapping = params_of_fields or {}
        raise ValidationError(
            {mapping.get(name, "name"): messages for name, messages in error.message_dict.items()}
        ) from None
    obj.save()
    return obj


def _add_step(flow: CallFlow, verb: str, params_of_fields=None, **fields) -> Step:
    position = flow.steps.count() + 1
    return _save(Step(flow=flow, position=position, verb=verb, **fields), params_of_fields)


def unique_slug(name: str) -> str:
    """The slug of `name`, with -2, -3... when another flow has it already."""
    base = (slugify(name) or "flow")[:90]
    slug, counter = base, 1
    while CallFlow.objects.filter(slug=slug).exists():
        counter += 1
        slug = f"{base}-{counter}"
    return slug


def _new_flow(name: str, description: str = "") -> CallFlow:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the flow a name, e.g. Support line."})
    return _save(CallFlow(name=name, slug=unique_slug(name), description=description))


def _flow_named(value: CallFlow | str, *, says: str) -> CallFlow:
    """`value` itself, the flow of that name, or a new flow that says `says` (a placeholder
    staff fill in, so the target exists and callers hear where they got to)."""
    if isinstance(value, CallFlow):
        return value
    existing = CallFlow.objects.filter(name__iexact=value.strip()).order_by("pk").first()
    if existing is not None:
        return existing
    flow = _new_flow(value, description="Created by a template: add its steps.")
    _add_step(flow, Step.Verb.SAY, text=says)
    return flow


def _box(value: VoicemailBox | str | None) -> VoicemailBox:
    if isinstance(value, VoicemailBox):
        return value
    name = (value or DEFAULT_BOX).strip() or DEFAULT_BOX
    box = VoicemailBox.objects.filter(name__iexact=name).first()
    return box or _save(VoicemailBox(name=name), {"name": "box"})


def _schedule(value: Schedule | str | None) -> Schedule:
    """The schedule asked for, by name; new: Monday to Friday, 9 to 5, in TIME_ZONE."""
    if isinstance(value, Schedule):
        return value
    name = (value or DEFAULT_SCHEDULE).strip() or DEFAULT_SCHEDULE
    schedule = Schedule.objects.filter(name__iexact=name).first()
    if schedule is not None:
        return schedule
    schedule = _save(Schedule(name=name, time_zone=settings.TIME_ZONE), {"name": "schedule"})
    for weekday in range(5):
        _save(
            OpenRange(
                schedule=schedule,
                weekday=weekday,
                opens=datetime.time(9, 0),
                closes=datetime.time(17, 0),
            )
        )
    return schedule


def _voicemail_steps(flow: CallFlow, box: VoicemailBox, prompt: str) -> None:
    """Prompt, record into `box` (then the steps after it), thank and hang up."""
    _add_step(flow, Step.Verb.SAY, {"text": "voicemail_prompt"}, text=prompt)
    _add_step(flow, Step.Verb.RECORD, box=box, max_length=120, play_beep=True)
    _add_step(flow, Step.Verb.SAY, text="Thank you for your message. Goodbye.")
    _add_step(flow, Step.Verb.HANGUP)


def _voicemail_flow(name: str, params: dict) -> CallFlow:
    """The flow "<name> voicemail" (an existing one of that name is reused as it is)."""
    title = f"{name} voicemail"
    existing = CallFlow.objects.filter(name__iexact=title).order_by("pk").first()
    if existing is not None:
        return existing
    flow = _new_flow(title, description="Records a message when nobody takes the call.")
    _voicemail_steps(flow, _box(params.get("box")), _voicemail_prompt(params))
    return flow


def _voicemail_prompt(params: dict) -> str:
    return params.get("voicemail_prompt") or (
        "Sorry, nobody can take your call right now. Please leave a message after the beep, "
        "and press the pound key when you are done."
    )


# --- the shapes ---------------------------------------------------------------------------


def _options(value) -> list[tuple[str, CallFlow | str]]:
    """[(keys, flow or flow name)] from a list of pairs or a {keys: flow} dict."""
    if value is None:
        return list(DEFAULT_OPTIONS)
    pairs = list(value.items()) if isinstance(value, dict) else list(value)
    cleaned = []
    for digits, target in pairs:
        digits = str(digits).strip()
        if not digits or not all(key in "0123456789*" for key in digits):
            raise ValidationError({"options": f"{digits!r}: use keypad keys only: 0-9 and *."})
        if not isinstance(target, CallFlow) and not str(target).strip():
            raise ValidationError({"options": f"Option {digits}: name the flow it leads to."})
        cleaned.append((digits, target))
    if not cleaned:
        raise ValidationError({"options": "A menu needs at least one option."})
    if len({digits for digits, _ in cleaned}) != len(cleaned):
        raise ValidationError({"options": "Two options use the same keys."})
    return cleaned


def _target_name(target: CallFlow | str) -> str:
    return target.name if isinstance(target, CallFlow) else str(target).strip()


def build_menu(flow: CallFlow, params: dict) -> None:
    options = _options(params.get("options"))
    greeting = params.get("greeting") or "Thank you for calling."
    prompt = params.get("prompt") or " ".join(
        f"For {_target_name(target)}, press {digits}." for digits, target in options
    )
    _add_step(flow, Step.Verb.SAY, {"text": "greeting"}, text=greeting)
    _add_step(
        flow,
        Step.Verb.GATHER,
        {"text": "prompt"},
        text=prompt,
        input=Step.GatherInput.BOTH,
        num_digits=max(len(digits) for digits, _ in options),
        timeout=5,
        tries=3,
    )
    for digits, target in options:
        name = _target_name(target)
        target_flow = _flow_named(target, says=f"You have reached {name}.")
        _save(
            MenuOption(
                flow=flow, digits=digits, phrase=name.lower()[:100], target_flow=target_flow
            ),
            {"digits": "options", "phrase": "options"},
        )


def build_forward_voicemail(flow: CallFlow, params: dict) -> None:
    _add_step(
        flow,
        Step.Verb.SAY,
        {"text": "greeting"},
        text=params.get("greeting") or "Please hold while we connect you.",
    )
    _add_step(
        flow,
        Step.Verb.DIAL,
        {"dial_target": "forward_to", "timeout": "timeout"},
        dial_kind=Step.DialKind.NUMBER,
        dial_target=str(params.get("forward_to") or DEFAULT_FORWARD_TO),
        timeout=params.get("timeout") or 20,
        next_flow=_voicemail_flow(flow.name, params),
    )


def build_after_hours(flow: CallFlow, params: dict) -> None:
    open_flow = _flow_named(
        params.get("open_flow") or f"{flow.name} (open)",
        says=f"You have reached {flow.name}.",
    )
    _add_step(
        flow,
        Step.Verb.HOURS,
        {"schedule": "schedule", "open_flow": "open_flow"},
        schedule=_schedule(params.get("schedule")),
        open_flow=open_flow,
    )
    # Closed callers go on with the steps after the Hours step: a message, then voicemail.
    closed = params.get("closed_message") or "We are closed right now."
    _add_step(flow, Step.Verb.SAY, {"text": "closed_message"}, text=closed)
    prompt = params.get("voicemail_prompt") or (
        "Please leave a message after the beep, and press the pound key when you are done."
    )
    _voicemail_steps(flow, _box(params.get("box")), prompt)


def build_queue(flow: CallFlow, params: dict) -> None:
    _add_step(
        flow,
        Step.Verb.SAY,
        {"text": "greeting"},
        text=params.get("greeting") or "Please hold: the next free person will take your call.",
    )
    _add_step(
        flow,
        Step.Verb.ENQUEUE,
        {"dial_target": "queue", "url": "hold_music"},
        dial_target=(params.get("queue") or flow.slug)[:64],
        url=params.get("hold_music") or DEFAULT_HOLD_MUSIC,
        next_flow=_voicemail_flow(flow.name, params),
    )


def build_text_address(flow: CallFlow, params: dict) -> None:
    _add_step(
        flow, Step.Verb.SMS, {"text": "address"}, text=params.get("address") or DEFAULT_ADDRESS
    )
    _add_step(
        flow,
        Step.Verb.SAY,
        {"text": "goodbye"},
        text=params.get("goodbye") or "We have sent our address to you by text message. Goodbye.",
    )
    _add_step(flow, Step.Verb.HANGUP)


_GREETING = Param("greeting", "Greeting", "What callers hear first.")
_BOX = Param("box", "Voicemail box", f"Where messages go (default: {DEFAULT_BOX}).")
_VOICEMAIL_PROMPT = Param("voicemail_prompt", "Voicemail prompt", "Asks for a message.")

TEMPLATES: dict[str, Template] = {
    template.key: template
    for template in (
        Template(
            key="menu",
            label="Menu with options",
            description="A greeting, then “For Sales, press 1. For Support, press 2.”; each "
            "option leads to a flow of its own (new ones say where the caller got to).",
            build=build_menu,
            params=(
                _GREETING,
                Param("prompt", "Menu prompt", "Blank: made from the options."),
                Param(
                    "options",
                    "Options",
                    "Keys and the flow each leads to, e.g. [('1', 'Sales'), ('2', 'Support')].",
                ),
            ),
        ),
        Template(
            key="forward_voicemail",
            label="Forward to a phone, voicemail if nobody answers",
            description="Rings a number for 20 seconds; if nobody answers, the caller can "
            "leave a voicemail.",
            build=build_forward_voicemail,
            params=(
                Param("forward_to", "Number to ring", f"E.164, e.g. {DEFAULT_FORWARD_TO}."),
                Param("timeout", "Seconds to ring", "Default 20."),
                _GREETING,
                _BOX,
                _VOICEMAIL_PROMPT,
            ),
        ),
        Template(
            key="after_hours",
            label="Open hours: open or closed",
            description="While open, callers go to another flow; while closed, they hear "
            "that you are closed and can leave a voicemail.",
            build=build_after_hours,
            params=(
                Param(
                    "schedule",
                    "Schedule",
                    f"Default: {DEFAULT_SCHEDULE} (Monday to Friday, 9 to 5; made if missing).",
                ),
                Param("open_flow", "While open, go to", "A flow or its name."),
                Param("closed_message", "Closed message", "What closed callers hear."),
                _BOX,
                _VOICEMAIL_PROMPT,
            ),
        ),
        Template(
            key="queue",
            label="Queue with hold music",
            description="Callers wait in a queue, hearing music, until someone takes the "
            "call; if they leave the queue, they can leave a voicemail.",
            build=build_queue,
            params=(
                Param("queue", "Queue name", "Default: the flow's slug."),
                Param("hold_music", "Hold music", "URL of an audio file."),
                _GREETING,
                _BOX,
                _VOICEMAIL_PROMPT,
            ),
        ),
        Template(
            key="text_address",
            label="Text me the address",
            description="Texts the caller your address, tells them so and says goodbye.",
            build=build_text_address,
            params=(
                Param(
                    "address",
                    "Text to send",
                    "Your address (and anything else), up to 1600 characters.",
                ),
                Param("goodbye", "What callers hear", "After the text is sent."),
            ),
        ),
    )
}


def template_choices() -> list[tuple[str, str]]:
    """For a form's select: ("", "Empty flow") first, then each template."""
    return [(EMPTY, "Empty flow"), *((t.key, t.label) for t in TEMPLATES.values())]


def _template(key: str, params: dict) -> Template | None:
    """The template `key` (None for "Empty flow"); TypeError for a parameter it does not take."""
    if key == EMPTY:
        template = None
    elif key in TEMPLATES:
        template = TEMPLATES[key]
    else:
        raise ValidationError({"template": f"There is no template {key!r}."})
    unknown = set(params) - (template.param_names if template else set())
    if unknown:
        raise TypeError(f"Template {key!r} takes no parameter {', '.join(sorted(unknown))}.")
    return template


def _fill(flow: CallFlow, template: Template | None, params: dict) -> None:
    if template is not None:
        template.build(flow, {k: v for k, v in params.items() if v not in (None, "")})
        renumber_steps(flow)


def create_from_template(key: str, *, name: str, **params) -> CallFlow:
    """Create the draft flow `name` from template `key` ("" : an empty flow), with what its
    shape needs; return it. ValidationError (keyed by parameter) when a parameter is bad:
    then nothing is created."""
    template = _template(key, params)
    with transaction.atomic():
        flow = _new_flow(name, description=template.description if template else "")
        _fill(flow, template, params)
    return flow


def fill_from_template(flow: CallFlow, key: str, **params) -> CallFlow:
    """Give the saved flow `flow`, which has no steps yet (e.g. one a menu option just
    created by name), the steps of template `key`; its name and slug stay. ValidationError
    when it has steps already or a parameter is bad: then nothing changes."""
    template = _template(key, params)
    if flow.steps.exists() or flow.options.exists():
        raise ValidationError(
            {
                "template": f"The flow {flow.name!r} has steps already: a template fills empty flows only."
            }
        )
    with transaction.atomic():
        if template is not None and not flow.description:
            flow.description = template.description
            _save(flow)
        _fill(flow, template, params)
    return flow
