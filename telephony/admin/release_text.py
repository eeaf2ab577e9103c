"""A release as staff read it on its admin page: each flow's steps in order, its menu
options, the numbers it answers and the SMS auto-replies, as HTML (all text escaped)."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from telephony.flows.schedules import week_view
from telephony.models import CallFlow, Step

QUOTE_CHARS = 80


def _quoted(text: str) -> str:
    return '"' + Truncator(" ".join(str(text).split())).chars(QUOTE_CHARS) + '"'


def _flow_name(flow: CallFlow | None) -> str:
    return _quoted(flow.name) if flow is not None else "(a deleted flow)"


def step_in_words(step: Step) -> str:
    """One step of a release, as staff would describe it."""
    verb = step.verb
    parts = []
    if verb == Step.Verb.SAY:
        parts.append(f"Say {_quoted(step.text)}")
        if step.voice or step.language:
            parts.append(f"in {' '.join(filter(None, [step.voice, step.language]))}")
        if step.loop != 1:
            parts.append("until the call ends" if step.loop == 0 else f"{step.loop} times")
    elif verb == Step.Verb.PLAY:
        parts.append(f"Play {step.url}")
        if step.loop != 1:
            parts.append("until the call ends" if step.loop == 0 else f"{step.loop} times")
    elif verb == Step.Verb.PAUSE:
        parts.append(f"Pause {step.length} s")
    elif verb == Step.Verb.GATHER:
        listens = dict(Step.GatherInput.choices).get(step.input or Step.GatherInput.DTMF, "")
        parts.append(f"Menu ({listens.lower()})")
        if step.text.strip():
            parts.append(f"saying {_quoted(step.text)}")
        if step.url:
            parts.append(f"playing {step.url}")
        if step.num_digits:
            parts.append(f"{step.num_digits} key(s)")
        if step.timeout:
            parts.append(f"waits {step.timeout} s")
    elif verb == Step.Verb.DIAL:
        kind = dict(Step.DialKind.choices).get(step.dial_kind or Step.DialKind.NUMBER, "")
        parts.append(f"Dial {kind.lower()} {step.dial_target}".rstrip())
        if step.timeout:
            parts.append(f"rings {step.timeout} s")
        if step.next_flow is not None:
            parts.append(f"no answer -> {_flow_name(step.next_flow)}")
        if step.answered_flow is not None:
            parts.append(f"answered -> {_flow_name(step.answered_flow)}")
    elif verb == Step.Verb.RECORD:
        parts.append("Record a message")
        if step.max_length:
            parts.append(f"up to {step.max_length} s")
        if step.box is not None:
            parts.append(f"into box {_quoted(step.box.name)}")
        if step.next_flow is not None:
            parts.append(f"then -> {_flow_name(step.next_flow)}")
    elif verb == Step.Verb.REDIRECT:
        target = _flow_name(step.next_flow) if step.next_flow is not None else step.url
        parts.append(f"Go to {target or '(a deleted flow)'}")
    elif verb == Step.Verb.ENQUEUE:
        parts.append(f"Queue {_quoted(step.dial_target)}")
        if step.next_flow is not None:
            parts.append(f"left the queue -> {_flow_name(step.next_flow)}")
    elif verb == Step.Verb.REJECT:
        parts.append(f"Reject ({(step.reason or Step.RejectReason.REJECTED)})")
    elif verb == Step.Verb.HANGUP:
        parts.append("Hang up")
    elif verb == Step.Verb.SMS:
        parts.append(f"Text the caller {_quoted(step.text)}")
    elif verb == Step.Verb.HOURS:
        schedule = _quoted(step.schedule.name) if step.schedule is not None else "(no schedule)"
        parts.append(f"Hours by {schedule}")
        for when, target in (("open", step.open_flow), ("closed", step.next_flow)):
            parts.append(f"{when} -> {_flow_name(target) if target else 'the steps after'}")
    else:
        parts.append(step.get_verb_display())
    return ", ".join(parts)


def option_in_words(option) -> str:
    keys = []
    if option.digits:
        keys.append(f"press {option.digits}")
    if option.phrase.strip():
        keys.append(f"say {_quoted(option.phrase.strip())}")
    return f"{' or '.join(keys) or '(no keys)'} -> {_flow_name(option.target_flow)}"


def snapshot_in_words(snapshot) -> str:
    """A release's flows (steps in order, then options), numbers and SMS replies, as HTML."""
    if snapshot is None:
        return "This release cannot be read."
    numbers_of: dict[str, list[str]] = {}
    for number, phone in sorted(snapshot.numbers.items()):
        if phone.call_flow is not None:
            numbers_of.setdefault(phone.call_flow.slug, []).append(number)
    sections = []
    for loaded in sorted(snapshot.flows.values(), key=lambda each: (each.flow.name, each.slug)):
        flow = loaded.flow
        heading = format_html(
            '<h3>{} <span class="release-slug">({})</span>{}</h3>',
            flow.name,
            flow.slug,
            "" if flow.is_active else " (inactive: callers hear goodbye)",
        )
        answers = numbers_of.get(loaded.slug)
        intro = format_html("<p>Answers calls to {}.</p>", ", ".join(answers)) if answers else ""
        steps = (
            format_html(
                '<ol class="release-steps">{}</ol>',
                format_html_join("", "<li>{}</li>", ((step_in_words(s),) for s in loaded.steps)),
            )
            if loaded.steps
            else mark_safe("<p>No steps.</p>")
        )
        options = (
            format_html(
                '<p>Menu options:</p><ul class="release-options">{}</ul>',
                format_html_join(
                    "", "<li>{}</li>", ((option_in_words(o),) for o in loaded.options)
                ),
            )
            if loaded.options
            else ""
        )
        sections.append(format_html("{}{}{}{}", heading, intro, steps, options))
    rules = [
        (number, rule.keyword or "(any other message)", Truncator(rule.reply).chars(QUOTE_CHARS))
        for number, by_keyword in sorted(snapshot.sms_rules.items())
        for rule in sorted(by_keyword.values(), key=lambda r: r.keyword)
    ]
    if rules:
        sections.append(
            format_html(
                '<h3>SMS auto-replies</h3><ul class="release-options">{}</ul>',
                format_html_join("", "<li>{}: {} -> &ldquo;{}&rdquo;</li>", rules),
            )
        )
    schedules = [
        (
            name,
            data.time_zone or "no time zone",
            ", ".join(f"{day} {' '.join(spans)}" for day, spans in week_view(data) if spans)
            or "never open",
            f", {data.holiday_region} holidays" if data.holiday_region else "",
        )
        for name, data in sorted(snapshot.schedules.items())
    ]
    if schedules:
        sections.append(
            format_html(
                '<h3>Schedules</h3><ul class="release-options">{}</ul>',
                format_html_join(
                    "",
                    "<li>{} ({}{}): {}</li>",
                    ((name, zone, holidays, week) for name, zone, week, holidays in schedules),
                ),
            )
        )
    if not sections:
        return "This release has no flows."
    return format_html('<div class="release-flows">{}</div>', mark_safe("".join(sections)))


def sentences_html(sentences: list[str], empty: str) -> str:
    if not sentences:
        return format_html("<p>{}</p>", empty)
    return format_html(
        '<ul class="release-changes">{}</ul>',
        format_html_join("", "<li>{}</li>", ((s,) for s in sentences)),
    )
