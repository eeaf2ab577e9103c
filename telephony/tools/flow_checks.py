"""Flow checks: mistakes in the stored call graph, found before a caller finds them.

`find_problems()` loads every flow, step, option, number and verified caller ID up front
(five queries, whatever the size of the tables) and returns `Finding`s: an error means
callers will certainly hit a dead end or a loop; a warning means something is probably
not what staff meant (an unreachable flow, an inactive target, a number with no flow).
`manage.py check_flows` prints them and fails on errors; the admin shows a flow's own
findings on its page.

Redirect loops. A call loops forever when Twilio can run from flow to flow without ever
waiting for the caller. We build a graph over flows with an edge A -> B when flow A,
run from its first step, reaches a Redirect to B before any step that hands the call to
somebody or ends it: Gather (the caller may press keys), Record (the caller speaks),
Dial and Enqueue (another party, and time, is involved), Hangup and Reject (the call
ends). Say, Play and Pause do not count: the caller can only listen. Only the first
Redirect counts, since Twilio leaves the document there, so each flow has at most one
such edge. Redirects to an absolute URL and to inactive flows (which say goodbye and hang
up) are not edges. Every cycle in this graph, a flow redirecting to itself included, is
an error, reported once, at the Redirect of its first flow by slug. The demo's "repeat the menu" Redirect is not a loop: its Gather
comes first. (An Hours step's branches are not followed here: the loop check passes over
it to the steps after it.)

Schedules. Each schedule needs a valid time zone and must open at some time in the next
year (else every Hours step using it always says closed); an Hours step needs a schedule,
and a branch with no flow goes on with the steps after it, so there must be some.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

from django.utils import timezone

from telephony.flows import schedules as decisions
from telephony.models import (
    CallerRule,
    CallFlow,
    MenuOption,
    PhoneNumber,
    Schedule,
    Step,
    VerifiedCallerId,
    VoicemailBox,
    option_fits_gather,
)

ERROR = "error"
WARNING = "warning"

# Steps after which Twilio never reaches the next step of the same document.
_ENDS_DOCUMENT = {Step.Verb.REDIRECT, Step.Verb.HANGUP, Step.Verb.REJECT}
# Steps that give the caller (or another party) a turn before a Redirect can run.
_WAITS_FOR_SOMEONE = {Step.Verb.GATHER, Step.Verb.RECORD, Step.Verb.DIAL, Step.Verb.ENQUEUE}


@dataclass(frozen=True)
class Finding:
    severity: str  # ERROR or WARNING
    message: str
    flow: str = ""  # slug of the flow concerned, if any
    step: int | None = None  # position of the step concerned, if any
    verb: str = ""
    number: str = ""  # the phone number concerned, if any
    schedule: str = ""  # the name of the schedule concerned, if any

    @property
    def where(self) -> str:
        parts = []
        if self.schedule:
            parts.append(f"schedule {self.schedule!r}")
        if self.number:
            parts.append(f"number {self.number}")
        if self.flow:
            parts.append(f"flow {self.flow}")
        if self.step is not None:
            parts.append(f"step {self.step} ({self.verb})" if self.verb else f"step {self.step}")
        return ", ".join(parts)

    def __str__(self):
        return f"{self.severity.upper():7} {self.where}: {self.message}"


@dataclass
class _Graph:
    flows: dict[int, CallFlow]
    steps: dict[int, list[Step]]
    options: dict[int, list[MenuOption]]
    numbers: list[PhoneNumber]
    caller_ids: set[str]
    caller_rules: list[CallerRule]

    @cached_property
    def has_boxes(self) -> bool:
        """Asked only when a Record step lacks a box, so a clean graph costs no query."""
        return VoicemailBox.objects.exists()


def _load() -> _Graph:
    flows = {flow.pk: flow for flow in CallFlow.objects.all()}
    steps = defaultdict(list)
    for step in Step.objects.order_by("flow_id", "position", "pk"):
        steps[step.flow_id].append(step)
    options = defaultdict(list)
    for option in MenuOption.objects.order_by("flow_id", "digits", "phrase"):
        options[option.flow_id].append(option)
    numbers = list(PhoneNumber.objects.order_by("number"))
    caller_ids = {str(n.number) for n in numbers}
    caller_ids |= {
        str(number) for number in VerifiedCallerId.objects.values_list("number", flat=True)
    }
    caller_rules = list(CallerRule.objects.select_related("phone_number").order_by("pk"))
    return _Graph(flows, steps, options, numbers, caller_ids, caller_rules)


def find_problems(*, flow: CallFlow | str | None = None) -> list[Finding]:
    """Every finding, or only those concerning `flow` (a flow or a slug). Six queries;
    all findings: one more for the schedules, and three for their rows if there are any."""
    graph = _load()
    findings: list[Finding] = []
    if flow is None:
        for schedule in Schedule.objects.prefetch_related("ranges", "closures", "special_days"):
            findings += _check_schedule(schedule)
    for number in graph.numbers:
        findings += _check_number(graph, number)
    for each in graph.flows.values():
        findings += _check_steps(graph, each)
        findings += _check_options(graph, each)
    findings += _check_reachable(graph)
    findings += _check_redirect_loops(graph)
    findings += _check_caller_rules(graph)
    if flow is not None:
        slug = flow if isinstance(flow, str) else flow.slug
        findings = [finding for finding in findings if finding.flow == slug]
    order = {ERROR: 0, WARNING: 1}
    return sorted(
        findings,
        key=lambda f: (order[f.severity], f.flow, f.step or 0, f.number, f.schedule, f.message),
    )


def has_errors(findings) -> bool:
    return any(finding.severity == ERROR for finding in findings)


# --- schedules ----------------------------------------------------------------------------


def _check_schedule(schedule: Schedule) -> list[Finding]:
    data = decisions.ScheduleData.of(
        schedule, schedule.ranges.all(), schedule.closures.all(), schedule.special_days.all()
    )
    if data.zone is None:
        what = (
            f"an unknown time zone ({schedule.time_zone!r})"
            if schedule.time_zone
            else "no time zone"
        )
        return [
            Finding(
                ERROR,
                f"This schedule has {what}: its Hours steps always say closed. Choose one, "
                "e.g. America/New_York.",
                schedule=schedule.name,
            )
        ]
    if decisions.never_open(data, timezone.now()):
        return [
            Finding(
                ERROR,
                "This schedule is never open in the next year (no weekly hours, or every day "
                "closed): its Hours steps always say closed. Add opening hours.",
                schedule=schedule.name,
            )
        ]
    return []


# --- numbers ------------------------------------------------------------------------------


def _check_number(graph: _Graph, number: PhoneNumber) -> list[Finding]:
    if number.call_flow_id is None:
        if not number.voice_capable:
            return []
        return [
            Finding(
                WARNING,
                "No call flow answers this number: callers hear 'not available' and are hung up on.",
                number=str(number.number),
            )
        ]
    flow = graph.flows[number.call_flow_id]
    if not flow.is_active:
        return [
            Finding(
                WARNING,
                f"Answered by the inactive flow {flow.slug!r}: callers hear 'not available'.",
                number=str(number.number),
                flow=flow.slug,
            )
        ]
    return []


# --- steps --------------------------------------------------------------------------------


def _verb(step: Step) -> str:
    """The verb's name without the admin's explanation: "Gather (menu)" -> "Gather"."""
    return re.sub(r"\s*\(.*\)$", "", step.get_verb_display())


def _step_finding(severity, flow, step, message) -> Finding:
    return Finding(severity, message, flow=flow.slug, step=step.position, verb=_verb(step))


def _target(graph: _Graph, flow_id: int | None) -> CallFlow | None:
    return graph.flows.get(flow_id) if flow_id else None


def _check_steps(graph: _Graph, flow: CallFlow) -> list[Finding]:
    findings = []
    steps = graph.steps[flow.pk]
    options = graph.options[flow.pk]
    if not steps:
        findings.append(
            Finding(WARNING, "This flow has no steps: Twilio hangs up at once.", flow=flow.slug)
        )
    ended_by = None
    for index, step in enumerate(steps):
        if ended_by is not None:
            findings.append(
                _step_finding(
                    WARNING,
                    flow,
                    step,
                    f"Never played: Twilio leaves this flow at step {ended_by.position} "
                    f"({_verb(ended_by)}).",
                )
            )
        elif _leaves_document(step):
            ended_by = step
        # Steps never played are still checked: a reorder would make them live.
        if step.verb == Step.Verb.GATHER and not options:
            if index == len(steps) - 1:
                findings.append(
                    _step_finding(
                        ERROR,
                        flow,
                        step,
                        "This Gather has no menu options and nothing after it: whatever the "
                        "caller does, the call ends. Add options or steps after it.",
                    )
                )
            else:
                findings.append(
                    _step_finding(
                        WARNING,
                        flow,
                        step,
                        "This Gather has no menu options: every key is 'not a valid option'.",
                    )
                )
        if step.verb == Step.Verb.GATHER and step.give_up_flow_id is None:
            back = next(
                (
                    later
                    for later in steps[index + 1 :]
                    if later.verb == Step.Verb.REDIRECT and later.next_flow_id == flow.pk
                ),
                None,
            )
            if back is not None:
                findings.append(
                    _step_finding(
                        WARNING,
                        flow,
                        step,
                        f"No way out on silence: after its last try this menu gives up to the "
                        f"steps after it, and step {back.position} starts the menu over, for "
                        "ever. Choose where a caller goes who makes no choice (e.g. voicemail).",
                    )
                )
        if step.verb == Step.Verb.REDIRECT and step.next_flow_id is None and not step.url:
            findings.append(
                _step_finding(
                    ERROR,
                    flow,
                    step,
                    "This Redirect leads nowhere (its flow was deleted): the call ends here.",
                )
            )
        if step.verb == Step.Verb.HOURS:
            findings += _check_hours(flow, step, has_steps_after=index < len(steps) - 1)
        if step.verb == Step.Verb.RECORD and step.box_id is None:
            findings.append(
                _step_finding(
                    ERROR if graph.has_boxes else WARNING,
                    flow,
                    step,
                    "This Record step has no voicemail box: nobody is told of its messages "
                    "and only superusers can listen. Choose a box.",
                )
            )
        if step.verb == Step.Verb.DIAL and step.caller_id:
            if str(step.caller_id) not in graph.caller_ids:
                findings.append(
                    _step_finding(
                        ERROR,
                        flow,
                        step,
                        f"The caller ID {step.caller_id} is neither one of our numbers nor a "
                        "verified caller ID: Twilio refuses the call (error 21210).",
                    )
                )
        for label, target_id in _step_targets(step):
            target = _target(graph, target_id)
            if target is not None and not target.is_active:
                findings.append(
                    _step_finding(
                        WARNING,
                        flow,
                        step,
                        f"{label.capitalize()} goes to the inactive flow {target.slug!r}: "
                        "callers hear 'not available'.",
                    )
                )
    return findings


def _check_hours(flow: CallFlow, step: Step, *, has_steps_after: bool) -> list[Finding]:
    findings = []
    if step.schedule_id is None:
        findings.append(
            _step_finding(
                ERROR,
                flow,
                step,
                "This Hours step has no schedule (it was deleted?): callers always count as "
                "closed. Choose a schedule.",
            )
        )
    if not has_steps_after:
        for when, target in (("closed", step.next_flow_id), ("open", step.open_flow_id)):
            if target is None:
                findings.append(
                    _step_finding(
                        ERROR,
                        flow,
                        step,
                        f"While {when}, callers go on with the steps after this one, and there "
                        f"are none: the call ends in silence. Choose a flow for {when} callers "
                        "or add steps after it.",
                    )
                )
    return findings


def _leaves_document(step: Step) -> bool:
    """True when Twilio never runs the steps after this one in the same flow.

    Redirect, Hangup and Reject leave at once. A Dial, Record or Enqueue with a next flow
    hands Twilio an action whose answer is another flow or a hangup, and so does a Gather
    with a flow for callers who make no choice (see webhooks/voice.py); an Hours step with
    a flow for both branches redirects either way.
    """
    if step.verb in _ENDS_DOCUMENT:
        return True
    if step.verb == Step.Verb.GATHER:  # it always posts its action (actionOnEmptyResult)
        return bool(step.give_up_flow_id)
    if step.verb == Step.Verb.HOURS:
        return bool(step.next_flow_id and step.open_flow_id)
    return step.verb in (
        Step.Verb.DIAL,
        Step.Verb.RECORD,
        Step.Verb.ENQUEUE,
        Step.Verb.CONFERENCE,
    ) and bool(step.next_flow_id)


def _step_targets(step: Step) -> list[tuple[str, int | None]]:
    """(label, flow id) for each flow a step can send the caller to."""
    if step.verb == Step.Verb.REDIRECT:
        return [("the redirect", step.next_flow_id)]
    if step.verb == Step.Verb.DIAL:
        return [("no answer", step.next_flow_id), ("answered", step.answered_flow_id)]
    if step.verb == Step.Verb.RECORD:
        return [("after recording", step.next_flow_id)]
    if step.verb == Step.Verb.ENQUEUE:
        return [("leaving the queue", step.next_flow_id)]
    if step.verb == Step.Verb.GATHER:
        return [("giving up on the menu", step.give_up_flow_id)]
    if step.verb == Step.Verb.CONFERENCE:
        return [("after the conference", step.next_flow_id)]
    if step.verb == Step.Verb.HOURS:
        return [("while open", step.open_flow_id), ("while closed", step.next_flow_id)]
    return []


# --- options ------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[\w']+", text.lower()))


def _option_finding(severity, flow, option, message) -> Finding:
    label = f"option {option.digits}" if option.digits else f"option {option.phrase!r}"
    return Finding(severity, f"{label.capitalize()}: {message}", flow=flow.slug)


def _check_options(graph: _Graph, flow: CallFlow) -> list[Finding]:
    findings = []
    options = graph.options[flow.pk]
    gathers = [step for step in graph.steps[flow.pk] if step.verb == Step.Verb.GATHER]
    if options and not gathers:
        findings.append(
            Finding(
                ERROR,
                "This flow has menu options but no Gather step, so callers can never choose one.",
                flow=flow.slug,
            )
        )
    listens = any("speech" in (gather.input or "") for gather in gathers)
    seen_digits: dict[str, MenuOption] = {}
    seen_phrases: dict[tuple[str, ...], MenuOption] = {}
    for option in options:
        target = _target(graph, option.target_flow_id)
        if target is None:
            findings.append(
                _option_finding(ERROR, flow, option, "it leads nowhere (its flow was deleted).")
            )
        elif not target.is_active:
            findings.append(
                _option_finding(
                    WARNING,
                    flow,
                    option,
                    f"it goes to the inactive flow {target.slug!r}: callers hear 'not available'.",
                )
            )
        for gather in gathers:
            problem = option_fits_gather(option.digits, gather)
            if problem:
                findings.append(
                    Finding(
                        ERROR,
                        f"Option {option.digits} cannot be chosen: {problem}.",
                        flow=flow.slug,
                        step=gather.position,
                        verb=_verb(gather),
                    )
                )
        if option.digits:
            if option.digits in seen_digits:
                findings.append(
                    _option_finding(ERROR, flow, option, "another option already uses these keys.")
                )
            seen_digits.setdefault(option.digits, option)
        phrase = _words(option.phrase)
        if phrase:
            if gathers and not listens:
                findings.append(
                    _option_finding(
                        WARNING,
                        flow,
                        option,
                        f"the words {option.phrase!r} are never heard: no Gather listens for speech.",
                    )
                )
            first = seen_phrases.setdefault(phrase, option)
            if first is not option:
                findings.append(
                    _option_finding(
                        WARNING if option.digits else ERROR,
                        flow,
                        option,
                        f"saying {option.phrase!r} always picks the option "
                        f"{first.digits or first.phrase!r} listed before it.",
                    )
                )
    return findings


# --- the graph ------------------------------------------------------------------------------


def edges(graph: _Graph) -> dict[int, set[int]]:
    """Every way a caller can move from flow to flow (options and step outcomes)."""
    out = defaultdict(set)
    for flow_id, options in graph.options.items():
        out[flow_id] |= {o.target_flow_id for o in options if o.target_flow_id in graph.flows}
    for flow_id, steps in graph.steps.items():
        for step in steps:
            out[flow_id] |= {t for _, t in _step_targets(step) if t in graph.flows}
    return out


def _check_reachable(graph: _Graph) -> list[Finding]:
    out = edges(graph)
    start = [n.call_flow_id for n in graph.numbers if n.call_flow_id]
    start += [rule.flow_id for rule in graph.caller_rules if rule.flow_id]  # entry points too
    reached, todo = set(start), list(start)
    while todo:
        for target in out[todo.pop()]:
            if target not in reached:
                reached.add(target)
                todo.append(target)
    findings = []
    for flow in graph.flows.values():
        if flow.pk in reached or not flow.is_active:
            continue
        if any(flow.pk in targets for source, targets in out.items() if source != flow.pk):
            message = "No number reaches this flow: only flows that no number reaches lead here."
        else:
            message = "No number, option or step leads to this flow, so no caller can reach it."
        findings.append(Finding(WARNING, message, flow=flow.slug))
    return findings


def _silent_redirect(graph: _Graph, flow: CallFlow) -> Step | None:
    """The Redirect that runs before the caller gets any turn, if there is one."""
    for step in graph.steps[flow.pk]:
        if step.verb in _WAITS_FOR_SOMEONE or step.verb in (Step.Verb.HANGUP, Step.Verb.REJECT):
            return None
        if step.verb == Step.Verb.REDIRECT:
            target = _target(graph, step.next_flow_id)
            return step if target is not None and target.is_active else None
    return None


def _check_redirect_loops(graph: _Graph) -> list[Finding]:
    # Each active flow has at most one silent Redirect, so the graph is a functional
    # graph: follow it from every flow and report each cycle once.
    silent = {}
    for flow in graph.flows.values():
        if flow.is_active:
            step = _silent_redirect(graph, flow)
            if step is not None:
                silent[flow.pk] = step
    findings, done = [], set()
    for start in silent:
        path, position = [], {}
        node = start
        while node in silent and node not in done and node not in position:
            position[node] = len(path)
            path.append(node)
            node = silent[node].next_flow_id
        if node in position:  # a new cycle
            cycle = path[position[node] :]
            first = min(cycle, key=lambda pk: graph.flows[pk].slug)
            cycle = cycle[cycle.index(first) :] + cycle[: cycle.index(first)]
            route = " -> ".join(graph.flows[pk].slug for pk in [*cycle, cycle[0]])
            step = silent[first]
            findings.append(
                _step_finding(
                    ERROR,
                    graph.flows[first],
                    step,
                    f"Redirect loop with no caller input in between ({route}): the call "
                    "would loop until Twilio gives up. Add a Gather, or end the call.",
                )
            )
        done.update(path)
    return findings


# --- caller rules -------------------------------------------------------------------------


def _check_caller_rules(graph: _Graph) -> list[Finding]:
    findings = []
    for rule in graph.caller_rules:
        where = str(rule.phone_number.number) if rule.phone_number_id else ""
        label = f"Caller rule for {rule.pattern}"
        if rule.action != CallerRule.Action.FLOW:
            continue
        target = _target(graph, rule.flow_id)
        if target is None:
            findings.append(
                Finding(
                    ERROR,
                    f"{label}: its flow was deleted, so these callers hear 'not available'. "
                    "Choose another flow or another action.",
                    number=where,
                )
            )
        elif not target.is_active:
            findings.append(
                Finding(
                    WARNING,
                    f"{label} goes to the inactive flow {target.slug!r}: these callers hear "
                    "'not available'.",
                    flow=target.slug,
                    number=where,
                )
            )
    return findings
