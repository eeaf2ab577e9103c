"""What an answer does to a caller, as call events (logs/events.Event). Pure functions.

They follow `twiml.render_steps()`: for the steps a document holds, the prompts the
caller hears, the menu that waits for them, the Dial that rings someone, the queue they
wait in, the schedule's decision, up to the step where Twilio leaves the document (a
Gather, a Dial or Enqueue with an outcome, a Record, a Redirect, an Sms step) or the
flow ends the call (Hangup, Reject: a HUNG_UP event "by Switchboard").

What a flow's whole document does depends only on its release and its Hours decisions,
like its TwiML, so flows/answers.py keeps the events beside the XML: a warm call builds
none. The words in `detail` are the timeline's (logs/timeline.py), in staff words.

What the caller hears on the way through one document (its prompts, the schedule's
decision, up to the menu, Dial or queue where Twilio leaves it) is one event, `told()`:
its lines are the steps', one per line of `detail`, and its kind, step and try are those
of the last, where the document leaves the caller (what logs/journeys.py reads to say
who hung up). Every event is a row the call log's writer inserts inside the web worker,
about 100,000 CPU instructions each on SQLite whatever its size, half of them SQLite's
own (bench/README.md): an event per prompt made the demo's voice webhook 11% dearer in
instructions than one per document does.
"""

from collections.abc import Mapping
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from telephony.flows import twiml
from telephony.flows.fixtures import LoadedFlow
from telephony.logs import journeys
from telephony.logs.events import Event
from telephony.models import CallEvent, Step

Kind = CallEvent.Kind
SHORT = 60  # characters of a prompt's text in its event


def short(text: str, limit: int = SHORT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def quoted(text: str) -> str:
    return f'"{short(text)}"'


def audio_name(url: str) -> str:
    return PurePosixPath(urlsplit(url).path).name or url


def flow(loaded: LoadedFlow, hours: Mapping | None = None) -> tuple[Event, ...]:
    """Entering `loaded` and its whole document (twiml.render_flow)."""
    entered = Event(Kind.FLOW_ENTERED, flow=loaded.slug, detail=f"entered {loaded.flow.name}")
    if not loaded.flow.is_active:
        return (entered, *goodbye(twiml.UNAVAILABLE, flow=loaded.slug))
    return (entered, *steps(loaded, loaded.steps, hours))


def goodbye(message: str, *, flow: str = "") -> tuple[Event, ...]:
    """A polite sentence, then Switchboard ends the call (twiml.goodbye)."""
    return told(
        [
            Event(Kind.PROMPT, flow=flow, detail=f"played {quoted(message)}"),
            Event(Kind.HUNG_UP, flow=flow, option=journeys.BY_SWITCHBOARD, detail="ended the call"),
        ]
    )


def told(heard: list[Event]) -> tuple[Event, ...]:
    """The events of one document's steps as one event (none if the steps said nothing):
    the last one's kind, flow, step, option and try, and every one's words, a line each.
    The steps of one document are all of one flow, so the timeline names it on each line."""
    if len(heard) < 2:
        return tuple(heard)
    return (heard[-1]._replace(detail="\n".join(event.detail for event in heard)),)


def refused(reason: str) -> tuple[Event, ...]:
    """<Reject>: the caller hears a busy signal or "not in service" (twiml.reject)."""
    what = "a busy signal" if reason == "busy" else "not in service"
    return (
        Event(Kind.HUNG_UP, option=journeys.BY_SWITCHBOARD, detail=f"refused the call ({what})"),
    )


def steps(
    loaded: LoadedFlow, chosen, hours: Mapping | None = None, *, attempt: int = 1
) -> tuple[Event, ...]:
    """The events of `chosen` steps of `loaded` rendered as one document; `attempt`: the
    try of a Gather among them (a menu asked again)."""
    out: list[Event] = []
    for step in chosen:
        done = _step(out, loaded, step, hours or {}, attempt)
        if done:
            break
    return told(out)


def _event(kind: str, loaded: LoadedFlow, step: Step, **fields) -> Event:
    return Event(kind, flow=loaded.slug, position=step.position, **fields)


def _step(out: list, loaded: LoadedFlow, step: Step, hours: Mapping, attempt: int) -> bool:
    """Add `step`'s events to `out`; True where Twilio leaves the document."""
    verb = step.verb
    if verb == Step.Verb.SAY:
        if step.text.strip():
            out.append(_event(Kind.PROMPT, loaded, step, detail=f"played {quoted(step.text)}"))
    elif verb == Step.Verb.PLAY:
        out.append(_event(Kind.PROMPT, loaded, step, detail=f"played {audio_name(step.url)}"))
    elif verb == Step.Verb.GATHER:
        # Twilio always comes back (actionOnEmptyResult): the menu waits for the caller.
        said = quoted(step.text) if step.text.strip() else audio_name(step.url) or "the menu"
        note = f" (try {attempt} of {step.tries})" if attempt > 1 else ""
        out.append(
            _event(Kind.PROMPT, loaded, step, try_number=attempt, detail=f"asked {said}{note}")
        )
        return True
    elif verb == Step.Verb.DIAL:
        out.append(dial_started(loaded, step))
        return bool(twiml.dial_has_outcome(step))
    elif verb == Step.Verb.RECORD:
        out.append(_event(Kind.PROMPT, loaded, step, detail="recording a message"))
        return True
    elif verb == Step.Verb.REDIRECT:
        if step.next_flow is None and not step.url:
            out.extend(goodbye(twiml.UNAVAILABLE, flow=loaded.slug))
        elif step.next_flow is None:
            out.append(_event(Kind.PROMPT, loaded, step, detail=f"sent to {short(step.url)}"))
        return True
    elif verb == Step.Verb.ENQUEUE:
        queue = step.dial_target.strip()
        out.append(
            _event(
                Kind.QUEUE_ENTERED,
                loaded,
                step,
                option=queue[:64],
                detail=f"waits in queue {queue}",
            )
        )
        return step.next_flow is not None
    elif verb in (Step.Verb.REJECT, Step.Verb.HANGUP):
        what = "refused the call" if verb == Step.Verb.REJECT else "hung up"
        out.append(_event(Kind.HUNG_UP, loaded, step, option=journeys.BY_SWITCHBOARD, detail=what))
        return True
    elif verb == Step.Verb.SMS:
        return True  # its webhook texts the caller and says so (SMS_SENT)
    elif verb == Step.Verb.CONFERENCE:
        # Joining is said by the room's callback (CONFERENCE); with moderators Twilio
        # asks the step's webhook first, and without, the room's end goes to next_flow.
        return bool(step.moderator_numbers()) or step.next_flow is not None
    elif verb == Step.Verb.HOURS:
        decision = hours.get(step.position)
        target = twiml.hours_branch(step, decision)
        out.append(schedule(loaded, step, decision, target))
        return target is not None
    return False


def dial_started(loaded: LoadedFlow, step: Step, ring: int = 0) -> Event:
    """A Dial rings: everyone at once, the `ring`-th of several in turn, or a queue."""
    if step.dial_kind == Step.DialKind.QUEUE:
        queue = step.dial_target.strip()
        return _event(Kind.DIAL_STARTED, loaded, step, detail=f"takes a call from queue {queue}")
    targets = [target for _kind, target in step.ring_targets()]
    if step.ring_mode == Step.RingMode.IN_TURN and len(targets) > 1:
        ringing = f"rang {targets[min(ring, len(targets) - 1)]} ({ring + 1} of {len(targets)})"
    else:
        ringing = f"rang {', '.join(targets)}"
    return _event(Kind.DIAL_STARTED, loaded, step, detail=short(ringing, 200))


def schedule(loaded: LoadedFlow, step: Step, decision, target) -> Event:
    state = "open" if decision is not None and decision.open else "closed"
    why = decision.reason if decision is not None and decision.reason else ""
    name = decision.schedule if decision is not None and decision.schedule else "no schedule"
    where = f" -> {target.name}" if target is not None else ""
    return _event(
        Kind.SCHEDULE,
        loaded,
        step,
        option=state,
        detail=short(f"{state} ({name}{': ' + why if why else ''}){where}", 200),
    )


def _target_name(flow) -> str:
    return flow.name if flow is not None else "nowhere (its flow was deleted)"


def menu_input(
    loaded: LoadedFlow, step: Step, option, *, digits: str, speech: str, attempt: int
) -> Event:
    """Keys pressed or words heard at a menu, and the option they chose (None: none)."""
    heard = f"pressed {digits}" if digits else f"said {quoted(speech)}"
    fields = {"digits": digits[:64], "speech": speech[:2000], "try_number": attempt}
    if option is None:
        return _event(
            Kind.INVALID_INPUT,
            loaded,
            step,
            detail=short(f"{heard}: not an option (try {attempt} of {step.tries})", 200),
            **fields,
        )
    chosen = (option.digits or option.phrase)[:64]
    return _event(
        Kind.INPUT,
        loaded,
        step,
        option=chosen,
        detail=short(f"{heard} -> {_target_name(option.target_flow)}", 200),
        **fields,
    )


def no_input(loaded: LoadedFlow, step: Step, attempt: int) -> Event:
    return _event(
        Kind.NO_INPUT,
        loaded,
        step,
        try_number=attempt,
        detail=f"no choice made (try {attempt} of {step.tries})",
    )


def dial_ended(
    loaded: LoadedFlow, step: Step, *, status: str, answered: bool, duration: int, ring: int
) -> Event:
    """A Dial's outcome: Twilio's DialCallStatus (journeys.NOT_ACCEPTED for a screened
    call nobody accepted) and how long it lasted (answered) or rang (the step's timeout)."""
    rang = dial_started(loaded, step, ring).detail
    if answered:
        words, option = f"answered, {seconds(duration)}", "completed"
    elif status == "completed":  # answered, but a screened call not accepted
        words, option = "not accepted", journeys.NOT_ACCEPTED
    else:
        words, option = (status or "no answer").replace("-", " "), status or "no-answer"
        duration = duration or (step.timeout or 30 if status == "no-answer" else 0)
        if duration:
            words += f", {seconds(duration)}"
    return _event(
        Kind.DIAL_ENDED,
        loaded,
        step,
        option=option[:64],
        duration=duration or None,
        detail=short(f"{rang} ({words})", 250),
    )


def seconds(value: int) -> str:
    if value < 60:
        return f"{value} s"
    return f"{value // 60} min {value % 60} s" if value % 60 else f"{value // 60} min"


def conference(loaded: LoadedFlow, step: Step, room: str) -> Event:
    return _event(
        Kind.CONFERENCE,
        loaded,
        step,
        option=room[:64],
        detail=short(f"joined the conference {room}", 200),
    )


def queue_left(loaded: LoadedFlow, step: Step, result: str, waited: int) -> Event:
    """Leaving an Enqueue's queue: Twilio's QueueResult and QueueTime."""
    queue = step.dial_target.strip()
    if result in journeys.QUEUE_ANSWERED:
        words = f"answered after {seconds(waited)} in queue {queue}"
    elif result == "hangup":
        words = f"hung up after {seconds(waited)} in queue {queue}"
    else:
        words = f"left queue {queue} unanswered after {seconds(waited)} ({result or 'unknown'})"
    return _event(
        Kind.QUEUE_LEFT, loaded, step, option=result[:64], duration=waited, detail=short(words, 200)
    )


def sms(loaded: LoadedFlow, step: Step, *, caller: str, sent: bool = True) -> Event:
    if not sent:
        return _event(
            Kind.SMS_SENT,
            loaded,
            step,
            option="not-sent",
            detail=f"could not text {caller or 'the caller'}",
        )
    return _event(
        Kind.SMS_SENT, loaded, step, option="queued", detail=f"texted {caller}: {quoted(step.text)}"
    )


def voicemail(slug: str, position: int | None, duration: int | None, box: str) -> Event:
    """A voicemail stored from a Record step's recording callback."""
    length = f" ({seconds(duration)})" if duration else ""
    where = f" in {box}" if box else ""
    return Event(
        Kind.VOICEMAIL,
        flow=slug,
        position=position,
        duration=duration,
        detail=short(f"left a voicemail{length}{where}", 200),
    )


def call_ended(status: str, duration: int | None) -> Event:
    length = f" after {seconds(duration)}" if duration else ""
    words = "call ended" if status == "completed" else f"call ended: {status.replace('-', ' ')}"
    return Event(Kind.CALL_ENDED, option=status[:64], duration=duration, detail=f"{words}{length}")
