"""Admin tools for trying flows without a phone: checks, a diagram and a call simulator.

Mixins for the ModelAdmins in `admin/flows.py`, kept here so that file stays about forms:

- `FlowToolsMixin` (CallFlowAdmin): the flow's findings from `flowchecks` as a read-only
  field and as warnings after each save, a diagram of the graph around the flow, and a
  simulator page at <flow>/simulate/.
- `NumberToolsMixin` (PhoneNumberAdmin): the simulator page for a call to the number.

The simulator page replays the whole call on every key press (`simulator.keypad_input`):
the caller's keys so far travel in a hidden field, so the page needs no session state,
works in several tabs at once and shows exactly what Twilio would do with those keys.

Both simulators (a call, and a text to a number) play the draft by default, since that is
what staff are editing; a select picks the live release or any earlier release instead.
"""

from __future__ import annotations

import json
import re

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from telephony.exceptions import TelephonyError
from telephony.flows.loading import DRAFT
from telephony.models import FlowsVersion, Release
from telephony.tools import diagram
from telephony.tools import flow_checks as flowchecks
from telephony.tools.simulator import (
    DEFAULT_FROM,
    DIAL_STATUSES,
    CallSimulator,
    SmsSimulator,
    error_text,
    keypad_input,
    parse_keypad_events,
)

MAX_MESSAGES = 10
KEYPAD = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"]
_CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")
LIVE = "live"
MAX_RELEASE_CHOICES = 200  # the newest; older ones stay reachable by ?release=N


def release_choices() -> list[tuple[str, str]]:
    """What a simulation may play: the draft, the live release, or a release by number."""
    live = FlowsVersion.current()[1]
    choices = [
        (DRAFT, "The draft (your unpublished changes)"),
        (LIVE, f"The live release (release {live})" if live else "The live release (none yet)"),
    ]
    numbers = Release.objects.values_list("number", flat=True)[:MAX_RELEASE_CHOICES]
    choices += [(str(n), f"Release {n}" + (" (live)" if n == live else "")) for n in numbers]
    return choices


def chosen_release(value: str | None) -> tuple[str, str | None]:
    """(the choice as the select shows it, the simulators' `release=`): the draft unless
    the live release or a release number was asked for."""
    value = (value or "").strip().lower()
    if value == LIVE:
        return LIVE, None
    if value.isdigit() and len(value) < 10:
        return str(int(value)), str(int(value))
    return DRAFT, DRAFT


def diagram_html(graph) -> str:
    """A flow graph (tools/diagram.py) as the admin shows it: the SVG, or its edges as a
    list where no Graphviz is installed."""
    svg = diagram.render_svg(graph)
    if svg is not None:
        # Safe to inline: our labels are escaped text, and render_svg() refuses any SVG
        # with more than drawing elements and links to our admin (checked_svg()).
        return format_html('<div class="flow-diagram">{}</div>', mark_safe(svg))
    return format_html(
        "<p>Install Graphviz (<code>pip install -r requirements.txt</code> brings "
        "graphviz-pure) to see this as a picture.</p><ul>{}</ul>",
        format_html_join("", "<li>{}</li>", ((line,) for line in graph.describe())),
    )


class SimulatorMixin:
    """Adds <object>/simulate/ to a ModelAdmin; subclasses say where the call starts."""

    change_form_template = "admin/telephony/change_form_with_tools.html"
    simulate_title = "Simulate a call"

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_simulate"
        view = self.admin_site.admin_view(self.simulate_view)
        # Before the ModelAdmin's own URLs: its "<path:object_id>/" would swallow ours.
        return [path("<path:object_id>/simulate/", view, name=name), *super().get_urls()]

    def start_call(self, simulator: CallSimulator, obj):
        raise NotImplementedError

    def simulate_view(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else {}
        try:
            events = parse_keypad_events(json.loads(data.get("events", "[]")))
        except (TypeError, ValueError):
            events = []
        call_sid = data.get("call_sid", "")
        if not _CALL_SID.match(call_sid):
            call_sid = ""  # a new call
        if "restart" in data:
            call_sid, events = "", []
        if data.get("key") in KEYPAD:
            events.append(f"k:{data['key']}")
        elif "say" in data and data.get("speech", "").strip():
            events.append(f"s:{data['speech'].strip()[:500]}")
        elif "wait" in data:
            events.append("t")
        caller = data.get("caller", "").strip() or DEFAULT_FROM
        dial_status = data.get("dial_status", DIAL_STATUSES[0])
        # A link may ask for a release (?release=live); the form's select says it after that.
        choice, release = chosen_release(data.get("release") or request.GET.get("release"))
        # "At": a time to simulate (for Hours steps), e.g. 2026-12-25 10:00; blank: now.
        at = data.get("at", "").strip()[:40]
        source = keypad_input(events)
        transcript, error = None, ""
        try:
            simulator = CallSimulator(
                caller=caller,
                inputs=source,
                dial_status=dial_status if dial_status in DIAL_STATUSES else DIAL_STATUSES[0],
                call_sid=call_sid,
                release=release,
                at=at or None,
            )
            transcript = self.start_call(simulator, obj)
        except TelephonyError as problem:
            error = error_text(problem)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": f"{self.simulate_title}: {obj}",
            "transcript": transcript,
            "error": error,
            "events": json.dumps(events),
            "call_sid": transcript.call_sid if transcript else "",
            "caller": caller,
            "dial_status": dial_status,
            "dial_statuses": DIAL_STATUSES,
            "at": at,
            "keypad": KEYPAD,
            "release": choice,
            "release_choices": release_choices(),
            "pending_keys": getattr(source, "pending", ""),
            "waiting": transcript is not None and transcript.ended == "waiting",
        }
        return TemplateResponse(request, "admin/telephony/simulator.html", context)


class FlowToolsMixin(SimulatorMixin):
    """Checks, diagram and simulator on the call flow's change page."""

    simulate_title = "Simulate a call to flow"
    tools_fieldsets = [
        ("Checks", {"fields": ["flow_checks"]}),
        ("Diagram: how callers move around this flow", {"fields": ["flow_diagram"]}),
    ]

    def start_call(self, simulator, obj):
        return simulator.run_flow(obj.slug)

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "flow_checks", "flow_diagram")

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        return fieldsets + self.tools_fieldsets if obj is not None else fieldsets

    @admin.display(description="Problems found")
    def flow_checks(self, obj):
        if obj is None or not obj.pk:
            return "-"
        findings = flowchecks.find_problems(flow=obj)
        if not findings:
            return "No problems found."
        return format_html(
            '<ul class="flow-checks">{}</ul>',
            format_html_join(
                "",
                '<li class="flow-check-{}"><strong>{}</strong> {}: {}</li>',
                ((f.severity, f.severity.capitalize(), f.where, f.message) for f in findings),
            ),
        )

    @admin.display(description="Diagram")
    def flow_diagram(self, obj):
        if obj is None or not obj.pk:
            return "-"
        return diagram_html(diagram.neighbourhood(obj))

    def response_add(self, request, obj, post_url_continue=None):
        self._warn_findings(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        self._warn_findings(request, obj)
        return super().response_change(request, obj)

    def _warn_findings(self, request, obj):
        # After save_related, so steps and options are saved (and renumbered) already.
        findings = flowchecks.find_problems(flow=obj)
        for finding in findings[:MAX_MESSAGES]:
            messages.warning(
                request, f"{finding.severity.capitalize()} in {finding.where}: {finding.message}"
            )
        if len(findings) > MAX_MESSAGES:
            messages.warning(
                request, f"... and {len(findings) - MAX_MESSAGES} more (see Checks below)."
            )


class NumberToolsMixin(SimulatorMixin):
    """The simulators on the phone number's change page: a call to this number, and a
    text to it (its SMS auto-replies) at <number>/simulate-sms/."""

    simulate_title = "Simulate a call to"

    def start_call(self, simulator, obj):
        return simulator.run_number(str(obj.number))

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_simulate_sms"
        view = self.admin_site.admin_view(self.simulate_sms_view)
        return [path("<path:object_id>/simulate-sms/", view, name=name), *super().get_urls()]

    def simulate_sms_view(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else {}
        choice, release = chosen_release(data.get("release") or request.GET.get("release"))
        sender = data.get("sender", "").strip() or DEFAULT_FROM
        body = data.get("body", "").strip()[:1600]
        transcript, error = None, ""
        if request.method == "POST":
            if not body:
                error = "Type the message to send."
            else:
                try:
                    transcript = SmsSimulator(sender=sender, release=release).run(
                        to=str(obj.number), body=body
                    )
                except TelephonyError as problem:
                    error = error_text(problem)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": f"Simulate a text to {obj}",
            "transcript": transcript,
            "error": error,
            "sender": sender,
            "body": body,
            "release": choice,
            "release_choices": release_choices(),
        }
        return TemplateResponse(request, "admin/telephony/sms_simulator.html", context)
