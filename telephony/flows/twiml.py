"""Stored flows -> `twilio.twiml` objects. Pure functions: no HTTP, no database writes.

Every string that came from the database passes through `xml_safe()`, so the XML is
well-formed whatever staff typed (XML 1.0 forbids most control characters, and
ElementTree would happily write them). Rendering never raises on stored data: a step
that cannot be rendered is skipped and logged.

Hours steps are decided before rendering (flows/schedules.py: `decide_flow`), and the
decisions passed in as `hours` (step position -> decision): an open or closed branch
that names a flow is a Redirect to that flow of the same release, and one that does not
renders nothing, so the steps after it run. A step without a decision counts as closed.
"""

import logging
import re
from collections.abc import Mapping

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from telephony.flows import links
from telephony.flows.fixtures import LoadedFlow
from telephony.models import CallFlow, Step

logger = logging.getLogger(__name__)

# What callers hear when something is wrong with our data; never an HTTP 500.
NOT_IN_SERVICE = "Sorry, this number is not in service. Goodbye."
UNAVAILABLE = "Sorry, this service is not available right now. Please try again later. Goodbye."
INVALID_OPTION = "Sorry, that is not a valid option."
NO_INPUT = "Sorry, we didn't hear anything."
GAVE_UP = "Sorry, we could not get your choice. Please call again. Goodbye."
TECHNICAL_PROBLEM = "Sorry, we are having technical difficulties. Please try again later. Goodbye."

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(value: str) -> str:
    """Drop the characters XML 1.0 cannot carry."""
    return _XML_ILLEGAL.sub("", value)


def _attrs(**attrs) -> dict:
    """Attributes worth writing: drop None/blank, make strings XML-safe."""
    return {
        key: xml_safe(value) if isinstance(value, str) else value
        for key, value in attrs.items()
        if value not in (None, "")
    }


def goodbye(message: str) -> VoiceResponse:
    """A polite sentence, then the call ends."""
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return response


def reject(reason: str) -> VoiceResponse:
    """Refuse the call: a busy signal ("busy") or not-in-service ("rejected")."""
    response = VoiceResponse()
    response.reject(reason=reason)
    return response


def render_flow(
    loaded: LoadedFlow, *, prefix: str | None = None, hours: Mapping | None = None
) -> VoiceResponse:
    """The whole flow as TwiML; `prefix` is said first (e.g. an invalid-option notice);
    `hours`: its Hours steps' decisions."""
    response = VoiceResponse()
    if prefix:
        response.say(prefix)
    if not loaded.flow.is_active:
        response.say(UNAVAILABLE)
        response.hangup()
        return response
    render_steps(response, loaded, loaded.steps, hours=hours)
    return response


def render_steps(
    response: VoiceResponse,
    loaded: LoadedFlow,
    steps,
    *,
    retry: tuple[Step, int] | None = None,
    hours: Mapping | None = None,
) -> VoiceResponse:
    """`steps` of `loaded` as TwiML. `retry`: (a Gather, its try number) when the menu is
    asked again: its action then counts the try (see webhooks/voice.py, GatherWebhook).
    `hours`: the decisions of the Hours steps among them."""
    for step in steps:
        if step.verb == Step.Verb.HOURS:
            if _hours(response, step, loaded, (hours or {}).get(step.position)):
                break  # Twilio leaves at the branch's Redirect
            continue
        renderer = _RENDERERS.get(step.verb)
        if renderer is None:
            logger.warning(
                "Skipping step %s of %s: unknown verb %r", step.position, loaded.slug, step.verb
            )
            continue
        try:
            if step.verb == Step.Verb.GATHER:
                attempt = retry[1] if retry is not None and retry[0] is step else 1
                _gather(response, step, loaded, attempt=attempt)
            else:
                renderer(response, step, loaded)
        except Exception:  # stored data we did not expect: skip the step, keep the call
            logger.exception(
                "Skipping step %s of flow %s: cannot render", step.position, loaded.slug
            )
        if step.verb == Step.Verb.SMS:
            break  # Twilio leaves at the Sms step's Redirect; its webhook renders the rest
    return response


def _step_url(name: str, loaded: LoadedFlow, step: Step) -> str:
    return links.step_url(name, loaded.release, loaded.slug, step.position)


def _voicemail_url(name: str, loaded: LoadedFlow, step: Step, box_id: int | None) -> str:
    return links.voicemail_url(
        name, release=loaded.release, slug=loaded.slug, position=step.position, box_id=box_id
    )


def _say(response, step: Step, loaded: LoadedFlow):
    loop = step.loop if step.loop != 1 else None
    response.say(xml_safe(step.text), **_attrs(voice=step.voice, language=step.language, loop=loop))


def _play(response, step: Step, loaded: LoadedFlow):
    response.play(xml_safe(step.url), **_attrs(loop=step.loop if step.loop != 1 else None))


def _pause(response, step: Step, loaded: LoadedFlow):
    response.pause(length=step.length)


def gather_url(loaded: LoadedFlow, step: Step, attempt: int = 1) -> str:
    """A Gather's action; the try number rides along from the second try on, so that a
    menu is asked at most `step.tries` times in a call, whatever the call did before."""
    url = _step_url("gather", loaded, step)
    return f"{url}?try={attempt}" if attempt > 1 else url


def _gather(response, step: Step, loaded: LoadedFlow, attempt: int = 1):
    phrases = [option.phrase.strip() for option in loaded.options if option.phrase.strip()]
    listens_for_speech = "speech" in (step.input or "")
    gather = Gather(
        **_attrs(
            input=step.input or Step.GatherInput.DTMF,
            action=gather_url(loaded, step, attempt),
            method="POST",
            # No input comes to us too: we count the tries (Twilio would run the steps
            # after the Gather, and a menu that redirects to itself would loop forever).
            action_on_empty_result=True,
            num_digits=step.num_digits,
            timeout=step.timeout,
            finish_on_key=step.finish_on_key,
            language=step.language if listens_for_speech else None,
            hints=", ".join(phrases) if listens_for_speech and phrases else None,
        )
    )
    if step.text.strip():
        gather.say(xml_safe(step.text), **_attrs(voice=step.voice, language=step.language))
    if step.url:
        gather.play(xml_safe(step.url))
    response.append(gather)


def dial_has_outcome(step: Step) -> bool:
    """With an action, Twilio asks us what next; without one it runs the following steps."""
    in_turn = (
        step.dial_kind != Step.DialKind.QUEUE
        and step.ring_mode == Step.RingMode.IN_TURN
        and len(step.ring_targets()) > 1
    )
    return bool(
        step.next_flow is not None or step.answered_flow is not None or in_turn or step.screen
    )


def _dial(response, step: Step, loaded: LoadedFlow, ring: int = 0):
    """A Dial of one person, of several at once, or of the `ring`-th of several in turn.

    In turn, each Dial's action names who rang (?ring=), so the outcome webhook rings the
    next one; screening gives each person a `url` that asks them to accept first."""
    targets = step.ring_targets() if step.dial_kind != Step.DialKind.QUEUE else []
    in_turn = step.ring_mode == Step.RingMode.IN_TURN and len(targets) > 1
    has_outcome = dial_has_outcome(step)
    action = _step_url("dial", loaded, step) if has_outcome else None
    if action and in_turn:
        action = f"{action}?ring={ring}"
    dial = Dial(
        **_attrs(
            action=action,
            method="POST" if has_outcome else None,
            caller_id=str(step.caller_id) if step.caller_id else None,
            timeout=step.timeout,
            record="record-from-answer" if step.record else None,
            recording_status_callback=_step_url("dial_recording", loaded, step)
            if step.record
            else None,
            recording_status_callback_method="POST" if step.record else None,
            recording_status_callback_event="completed" if step.record else None,
        )
    )
    if step.dial_kind == Step.DialKind.QUEUE:
        dial.queue(xml_safe(step.dial_target.strip()))
        response.append(dial)
        return
    screen = _step_url("screen", loaded, step) if step.screen else None
    for kind, target in [targets[ring]] if in_turn else targets:
        noun = dial.client if kind == Step.DialKind.CLIENT else dial.number
        noun(xml_safe(target), **_attrs(url=screen, method="POST" if screen else None))
    response.append(dial)


def render_dial(step: Step, loaded: LoadedFlow, ring: int) -> VoiceResponse:
    """The Dial of the `ring`-th person of a Dial that rings one after another."""
    response = VoiceResponse()
    _dial(response, step, loaded, ring=ring)
    return response


def screening(step: Step, loaded: LoadedFlow) -> VoiceResponse:
    """What the person answering a screened Dial hears: accept with 1, else it is hung up
    and counts as unanswered (the caller's Dial rings on, or ends unanswered)."""
    announcement = step.text.strip() or f"Call for {loaded.flow.name}."
    response = VoiceResponse()
    gather = Gather(
        action=_step_url("screen_accept", loaded, step), method="POST", num_digits=1, timeout=5
    )
    gather.say(xml_safe(f"{announcement} Press 1 to accept."))
    response.append(gather)
    response.hangup()
    return response


# Twilio's <Record> takes in-progress, completed and absent; "absent" (silence, nothing
# recorded) is asked for so that an empty message is logged, not waited for.
RECORDING_EVENTS = "completed absent"


def _record(response, step: Step, loaded: LoadedFlow):
    # Always give an action: without one Twilio re-requests this document, looping.
    box_id = step.box.pk if step.box is not None else None
    response.record(
        **_attrs(
            action=_step_url("record", loaded, step),
            method="POST",
            max_length=step.max_length,
            play_beep=step.play_beep,
            transcribe=step.transcribe or None,
            finish_on_key=step.finish_on_key,
            recording_status_callback=_voicemail_url("recording", loaded, step, box_id),
            recording_status_callback_method="POST",
            recording_status_callback_event=RECORDING_EVENTS,
            transcribe_callback=_voicemail_url("transcription", loaded, step, box_id)
            if step.transcribe
            else None,
        )
    )


def _redirect(response, step: Step, loaded: LoadedFlow):
    if step.next_flow is not None:
        response.redirect(links.flow_url(loaded.release, step.next_flow.slug), method="POST")
    elif step.url:
        response.redirect(xml_safe(step.url), method="POST")
    else:  # its target was deleted: end politely rather than fall through silently
        response.say(UNAVAILABLE)
        response.hangup()


def hours_branch(step: Step, decision) -> CallFlow | None:
    """The flow an Hours step sends the caller to (None: on to the steps after it)."""
    return step.open_flow if decision is not None and decision.open else step.next_flow


def _hours(response, step: Step, loaded: LoadedFlow, decision) -> bool:
    """Redirect to the branch's flow, if it names one; True when it did."""
    target = hours_branch(step, decision)
    if target is None:
        return False
    response.redirect(links.flow_url(loaded.release, target.slug), method="POST")
    return True


def _enqueue(response, step: Step, loaded: LoadedFlow):
    has_outcome = step.next_flow is not None
    response.enqueue(
        xml_safe(step.dial_target.strip()),
        **_attrs(
            action=_step_url("enqueue", loaded, step) if has_outcome else None,
            method="POST" if has_outcome else None,
            # waitUrl must return TwiML, so point it at our wait view, which plays the music.
            wait_url=_step_url("wait", loaded, step) if step.url else None,
            wait_url_method="POST" if step.url else None,
        ),
    )


def _reject(response, step: Step, loaded: LoadedFlow):
    response.reject(reason=step.reason or Step.RejectReason.REJECTED)


def _hangup(response, step: Step, loaded: LoadedFlow):
    response.hangup()


def _conference(response, step: Step, loaded: LoadedFlow):
    # With moderators, who starts and ends the room depends on who calls: Twilio is sent
    # to the step's webhook, which answers each caller (webhooks/voice.py).
    if step.moderator_numbers():
        response.redirect(_step_url("conference", loaded, step), method="POST")
        return
    _conference_dial(response, step, loaded, moderator=None)


def conference(step: Step, loaded: LoadedFlow, *, moderator: bool) -> VoiceResponse:
    """A caller joining a Conference step that has moderators, then what follows it."""
    response = VoiceResponse()
    _conference_dial(response, step, loaded, moderator=moderator)
    return render_steps(response, loaded, loaded.steps_after(step))


def _conference_dial(response, step: Step, loaded: LoadedFlow, *, moderator: bool | None):
    """<Dial><Conference>room</Conference></Dial>. `moderator` None: the room has none
    (it starts with the first caller); True/False: the caller is (not) a moderator."""
    dial = Dial()
    dial.conference(
        xml_safe(step.dial_target.strip()),
        **_attrs(
            start_conference_on_enter=moderator is not False,
            end_conference_on_exit=bool(moderator),
            wait_url=xml_safe(step.url) if step.url else None,
            wait_method="GET" if step.url else None,  # an audio file, fetched as a file
            record="record-from-start" if step.record else None,
            max_participants=step.max_participants,
            status_callback=_step_url("conference_events", loaded, step),
            status_callback_event="join leave",
            status_callback_method="POST",
        ),
    )
    response.append(dial)
    if step.next_flow is not None:  # after the conference (the steps after it otherwise)
        response.redirect(links.flow_url(loaded.release, step.next_flow.slug), method="POST")


def _sms(response, step: Step, loaded: LoadedFlow):
    # <Sms> is deprecated in voice TwiML. Twilio is sent to the step's webhook, which
    # queues a text to the caller (services.queue_step_sms) and answers with the steps
    # after it, so the message is queued exactly when the call reaches this step.
    response.redirect(_step_url("sms_step", loaded, step), method="POST")


_RENDERERS = {
    Step.Verb.SAY: _say,
    Step.Verb.PLAY: _play,
    Step.Verb.PAUSE: _pause,
    Step.Verb.GATHER: _gather,
    Step.Verb.DIAL: _dial,
    Step.Verb.RECORD: _record,
    Step.Verb.REDIRECT: _redirect,
    Step.Verb.ENQUEUE: _enqueue,
    Step.Verb.REJECT: _reject,
    Step.Verb.HANGUP: _hangup,
    Step.Verb.SMS: _sms,
    Step.Verb.CONFERENCE: _conference,
}


def render_wait_music(step: Step) -> VoiceResponse:
    """What a caller waiting in an Enqueue's queue hears: the music, looped."""
    response = VoiceResponse()
    if step.url:
        response.play(xml_safe(step.url), loop=0)
    return response
