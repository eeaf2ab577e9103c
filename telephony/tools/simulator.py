"""Play a call (or an incoming SMS) through our real webhooks, in-process, as Twilio would.

The simulator is a tiny stand-in for Twilio's call engine. It POSTs signed, form-encoded
requests with the parameters Twilio sends (CallSid, From, To, Direction, AccountSid...)
to the webhook views through `django.test.Client`, parses the TwiML that comes back
and walks its verbs in order: Say/Play/Pause become transcript lines, a Gather takes the
caller's next input and posts it to the Gather's action, Redirects are followed, Dial,
Record and Enqueue post their outcome to their action, and Hangup, Reject or the end of
the document end the call. Nothing here knows how flows are stored: only the HTTP
contract is used, so what the simulator shows is what a caller would get.

Hours steps decide at the time of the call: now, or the time given as `at` (sent to the
webhooks signed, like the simulation flag); the webhooks say what they decided in a
response header, which becomes a transcript line ("Closed (Office hours: Christmas Day
(US holiday)): going to flow 'closed'").

The caller's input comes from an `InputSource`: a callable given each Gather, returning
a `CallerInput`, `None` (no input: the Gather times out and the call falls through to
the next verb, as Twilio does) or `WAIT` (stop here and wait for a person; the admin's
keypad page replays the call with one more key each time).
"""

from __future__ import annotations

import datetime
import json
import logging
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from telephony.exceptions import TelephonyValidationError
from telephony.flows.loading import DRAFT, is_release_label, live_snapshot, snapshot
from telephony.flows.schedules import parse_time
from telephony.models import PhoneNumber
from telephony.phone_numbers import e164
from telephony.tools.local_twilio import LocalTwilio
from telephony.webhooks.signatures import SIMULATED_AT_PARAM, SIMULATION_PARAM

MAX_REQUESTS = 50
DEFAULT_FROM = "+14155551234"
# Twilio's magic test number; used as `To` when a flow no number answers is run directly.
PLACEHOLDER_TO = "+15005550006"
FAKE_RECORDING_SECONDS = 7
DIAL_STATUSES = ("no-answer", "completed", "busy", "failed")
# What a caller leaving an Enqueue looks like for each --dial-status.
_QUEUE_RESULT = {"completed": "bridged", "no-answer": "leave", "busy": "queue-full"}
_DTMF = set("0123456789*#")
# The request parameters worth showing in a transcript (the rest are always the same).
_SHOWN_PARAMS = ("Digits", "SpeechResult", "DialCallStatus", "RecordingDuration", "QueueResult")
HOURS_HEADER = "X-Switchboard-Hours"  # what the webhooks' Hours steps decided (webhooks/voice.py)


class SimulatorError(TelephonyValidationError):
    """The simulation cannot start: unknown number or flow, bad input."""


def simulated_time(at) -> str:
    """`at` (a datetime or ISO 8601 text; naive: on each schedule's own clock) as the
    text the webhooks read; SimulatorError when it is no time."""
    if at in (None, ""):
        return ""
    if isinstance(at, datetime.datetime):
        return at.isoformat()
    try:
        return parse_time(str(at)).isoformat()
    except ValueError:
        raise SimulatorError(
            f"{at!r} is not a date and time; use ISO 8601, e.g. 2026-12-25T10:00-08:00 "
            "(without an offset: each schedule's own local time)."
        ) from None


def hours_line(note: dict) -> str:
    """One Hours step's decision, as the transcript says it."""
    state = "Open now" if note.get("open") else "Closed"
    where = (
        f"going to flow {note['to']!r}" if note.get("to") else "going on with the steps after it"
    )
    return f"{state} ({note.get('schedule') or 'no schedule'}: {note.get('reason', '')}): {where}"


def error_text(error: Exception) -> str:
    """One line for a SimulatorError (a ValidationError) or a configuration error."""
    return " ".join(getattr(error, "messages", None) or [str(error)])


@contextmanager
def quiet_logs(verbosity: int = 1):
    """Hide the webhooks' INFO log lines (access logs) between transcript lines,
    unless the command runs with -v 2 or more."""
    if verbosity >= 2:
        yield
        return
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


class _Wait:
    def __repr__(self):
        return "WAIT"


WAIT = _Wait()


@dataclass(frozen=True)
class CallerInput:
    """What the caller did at a Gather: keys pressed and/or words spoken."""

    digits: str = ""
    speech: str = ""

    def __bool__(self):
        return bool(self.digits or self.speech)


@dataclass(frozen=True)
class GatherInfo:
    """What a Gather asks for, as the input source needs to know it."""

    accepts_keys: bool
    accepts_speech: bool
    num_digits: int | None
    finish_on_key: str
    timeout: int

    def describe(self) -> str:
        asks = []
        if self.accepts_keys:
            if self.num_digits:
                asks.append(f"{self.num_digits} key{'s' if self.num_digits != 1 else ''}")
            else:
                ends = f", ended by {self.finish_on_key}" if self.finish_on_key else ""
                asks.append(f"keys{ends}")
        if self.accepts_speech:
            asks.append("speech")
        return f"Waits {self.timeout} s for {' or '.join(asks)}"


InputSource = Callable[[GatherInfo], "CallerInput | None | _Wait"]


@dataclass(frozen=True)
class Line:
    """One line of the transcript. `kind` lets a page style it (say, caller, request...)."""

    kind: str
    text: str

    def __str__(self):
        return self.text


@dataclass
class Transcript:
    lines: list[Line] = field(default_factory=list)
    ended: str = ""  # hangup, reject, end, loop-limit, error, external, waiting
    requests: int = 0
    call_sid: str = ""
    waiting_for: GatherInfo | None = None

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


# --- inputs -----------------------------------------------------------------------------


def scripted_input(
    digits: Iterable[str] = (),
    speech: Iterable[str] = (),
    *,
    ask: Callable[[GatherInfo], str | None] | None = None,
) -> InputSource:
    """Input from lists, one item per Gather; then from `ask` (a terminal), else no input.

    A Gather that takes keys uses the next `digits` item, one that takes speech the next
    `speech` item (keys first when it takes both). An empty item means "no input" at that
    Gather. When both lists are used up, `ask` is called, if given.
    """
    digits, speech = list(digits), list(speech)

    def next_input(gather: GatherInfo):
        if gather.accepts_keys and digits:
            return CallerInput(digits=digits.pop(0)) or None
        if gather.accepts_speech and speech:
            return CallerInput(speech=speech.pop(0)) or None
        if digits or speech or ask is None:
            return None  # this Gather cannot use what is left: it times out
        answer = (ask(gather) or "").strip()
        return parse_answer(answer, gather)

    return next_input


def parse_answer(answer: str, gather: GatherInfo) -> CallerInput | None:
    """A typed answer: keypad keys when it is all keys and keys are taken, else speech."""
    answer = answer.strip()
    if not answer:
        return None
    if gather.accepts_keys and set(answer) <= _DTMF:
        return CallerInput(digits=answer)
    if gather.accepts_speech:
        return CallerInput(speech=answer)
    raise SimulatorError(f"This Gather only takes keypad keys (0-9, * and #), not {answer!r}.")


def keypad_input(events: Iterable[str]) -> InputSource:
    """Input from a keypad, key by key, as a phone sends it (the admin's simulator page).

    `events` are "k:<key>" (one key pressed), "s:<words>" (words spoken) and "t" (the
    caller waits: the Gather times out with what was pressed so far). A Gather ends when
    it has numDigits keys or its finishOnKey is pressed; when the events run out first,
    the source answers WAIT (keys pressed so far stay pending for the next replay).
    """
    events = list(events)

    def next_input(gather: GatherInfo):
        keys = ""
        while events:
            event = events.pop(0)
            if event == "t":
                return CallerInput(digits=keys) or None
            if event.startswith("s:"):
                if gather.accepts_speech:
                    return CallerInput(speech=event[2:]) or None
                continue  # words said to a keypad-only Gather are not heard
            key = event[2:]
            if not gather.accepts_keys:
                continue
            if key == gather.finish_on_key:
                return CallerInput(digits=keys) or None
            keys += key
            if gather.num_digits and len(keys) >= gather.num_digits:
                return CallerInput(digits=keys)
        next_input.pending = keys
        return WAIT

    next_input.pending = ""
    return next_input


def parse_keypad_events(raw: Iterable[str]) -> list[str]:
    """Keep only well-formed keypad events (they come back from a form)."""
    good = []
    for event in raw:
        if not isinstance(event, str):
            continue
        if event == "t" or (event.startswith("s:") and len(event) <= 502):
            good.append(event)
        elif event.startswith("k:") and len(event) == 3 and event[2] in _DTMF:
            good.append(event)
    return good


# --- the call engine ----------------------------------------------------------------------


def normalise_number(value: str, what: str = "number") -> str:
    number = e164(value)
    if number is None:
        raise SimulatorError(f"{value!r} is not a phone {what} in E.164 format, e.g. +14155550100.")
    return number


class _Ended(Exception):
    def __init__(self, reason: str, text: str):
        self.reason, self.text = reason, text


def _parse(response) -> ET.Element:
    if response.status_code != 200:
        detail = {
            403: "the signature was refused",
            404: "no such URL",
            405: "method not allowed",
        }.get(response.status_code, "Twilio would say 'an application error has occurred'")
        raise _Ended("error", f"HTTP {response.status_code} from the webhook: {detail}.")
    try:
        root = ET.fromstring(response.content)
    except ET.ParseError as error:
        raise _Ended("error", f"The webhook answered with invalid XML ({error}).") from None
    if root.tag != "Response":
        raise _Ended("error", f"The webhook answered <{root.tag}>, not TwiML <Response>.")
    return root


def _quote(text: str | None) -> str:
    return f'"{" ".join((text or "").split())}"'


def _loop_note(element) -> str:
    loop = element.get("loop")
    if loop == "0":
        return " (repeated until the call ends)"
    if loop and loop != "1":
        return f" ({loop} times)"
    return ""


class CallSimulator(LocalTwilio):
    """One simulated call. `run_number()` / `run_flow()` play it and return the transcript."""

    def __init__(
        self,
        *,
        caller: str = DEFAULT_FROM,
        inputs: InputSource | None = None,
        dial_status: str = "no-answer",
        max_requests: int = MAX_REQUESTS,
        call_sid: str = "",
        on_line: Callable[[Line], None] | None = None,
        release: str | None = None,
        at: datetime.datetime | str | None = None,
    ):
        super().__init__()
        self.release = _release_label(release)
        self.at = simulated_time(at)
        if dial_status not in DIAL_STATUSES:
            raise SimulatorError(
                f"Unknown dial status {dial_status!r}; use one of {', '.join(DIAL_STATUSES)}."
            )
        self.caller = normalise_number(caller, "number to call from")
        self.inputs = inputs or scripted_input()
        self.dial_status = dial_status
        self.max_requests = max(1, max_requests)
        self.call_sid = call_sid or "CA" + uuid.uuid4().hex
        self.on_line = on_line
        self.transcript = Transcript(call_sid=self.call_sid)
        self.to = PLACEHOLDER_TO

    # -- starting points --

    def run_number(self, number: str) -> Transcript:
        self.to = normalise_number(number)
        if not PhoneNumber.objects.filter(number=self.to).exists():
            raise SimulatorError(f"{self.to} is not one of our numbers (see Phone numbers).")
        self._line(
            "start", f"Calling {self.to} from {self.caller} ({_describe(self.release)}{self._when})"
        )
        if self.release is None:
            return self._run(self.base + reverse("telephony:voice"))
        return self._run(
            self.base + reverse("telephony:release_voice", kwargs={"release": self.release})
        )

    def run_flow(self, slug: str) -> Transcript:
        loaded_release = _snapshot(self.release)
        if loaded_release.flow(slug) is None:
            raise SimulatorError(
                f"There is no call flow with the slug {slug!r} in {_describe(self.release)}."
            )
        number = next(
            (
                n
                for n, phone in sorted(loaded_release.numbers.items())
                if phone.call_flow is not None and phone.call_flow.slug == slug
            ),
            None,
        )
        self.to = number or PLACEHOLDER_TO
        note = "" if number else " (no number answers with this flow: a stand-in)"
        self._line(
            "start",
            f"Running flow {slug!r} of {_describe(self.release)} for a call from {self.caller} "
            f"to {self.to}{note}{self._when}",
        )
        kwargs = {"slug": slug}
        if self.release is None:
            return self._run(self.base + reverse("telephony:flow", kwargs=kwargs))
        return self._run(
            self.base
            + reverse("telephony:release_flow", kwargs={**kwargs, "release": self.release})
        )

    @property
    def _when(self) -> str:
        return f", at {self.at}" if self.at else ""

    # -- the engine --

    def _line(self, kind: str, text: str):
        line = Line(kind, text)
        self.transcript.lines.append(line)
        if self.on_line:
            self.on_line(line)

    def _params(self, extra: dict | None = None) -> dict:
        params = {
            "AccountSid": settings.TWILIO_ACCOUNT_SID or "AC" + "0" * 32,
            "ApiVersion": "2010-04-01",
            "CallSid": self.call_sid,
            "CallStatus": "ringing" if self.transcript.requests == 0 else "in-progress",
            "Direction": "inbound",
            "From": self.caller,
            "Caller": self.caller,
            "To": self.to,
            "Called": self.to,
            # Signed like the rest, so only we can set it: the webhooks then neither log
            # the call nor send a Sms step's text (simulations have no side effects).
            SIMULATION_PARAM: "1",
        }
        if self.at:
            params[SIMULATED_AT_PARAM] = self.at
        params.update(extra or {})
        return params

    def _run(self, url: str) -> Transcript:
        request = ("POST", url, {})
        try:
            while True:
                request = self._fetch_and_play(*request)
        except _Ended as end:
            self.transcript.ended = end.reason
            self._line("end", end.text)
        return self.transcript

    def _fetch_and_play(self, method: str, url: str, extra: dict):
        if self.transcript.requests >= self.max_requests:
            raise _Ended(
                "loop-limit",
                f"Stopped after {self.max_requests} requests: the call seems to loop forever.",
            )
        path = self.local_path(url)
        if path is None:
            raise _Ended("external", f"Twilio would now fetch {url}, outside Switchboard; stop.")
        shown = ", ".join(f"{key}={extra[key]}" for key in _SHOWN_PARAMS if key in extra)
        self._line("request", f"[Twilio {method}s {path}{f' ({shown})' if shown else ''}]")
        response = self.request(method, url, self._params(extra))
        self.transcript.requests += 1
        root = _parse(response)
        for note in _hours_notes(response):
            self._line("hours", hours_line(note))
        return self._play(root, url)

    def _play(self, root: ET.Element, url: str):
        """Walk a document's verbs; return the next request (method, url, params)."""
        for element in root:
            verb = element.tag
            handler = getattr(self, f"_verb_{verb.lower()}", None)
            if handler is None:
                self._line("other", f"<{verb}> (not simulated; skipped)")
                continue
            follow = handler(element, url)
            if follow is not None:
                return follow
        raise _Ended("end", "The TwiML ends here, so Twilio hangs up: the call is over.")

    def _action(self, element, url: str, params: dict):
        action = element.get("action")
        target = self.absolute(action, url) if action else url  # Twilio's default: this URL
        return (element.get("method", "POST").upper(), target, params)

    def _verb_say(self, element, url):
        self._line("say", f"Says: {_quote(element.text)}{_loop_note(element)}")

    def _verb_play(self, element, url):
        if element.get("digits"):
            self._line("play", f"Plays keys {element.get('digits')}")
        else:
            self._line("play", f"Plays {(element.text or '').strip()}{_loop_note(element)}")

    def _verb_pause(self, element, url):
        self._line("pause", f"(silence, {element.get('length', '1')} s)")

    def _verb_gather(self, element, url):
        kinds = (element.get("input") or "dtmf").split()
        num_digits = element.get("numDigits")
        info = GatherInfo(
            accepts_keys="dtmf" in kinds,
            accepts_speech="speech" in kinds,
            num_digits=int(num_digits) if num_digits and num_digits.isdigit() else None,
            finish_on_key=element.get("finishOnKey", "#"),
            timeout=int(element.get("timeout") or 5),
        )
        for child in element:
            handler = getattr(self, f"_verb_{child.tag.lower()}", None)
            if child.tag in ("Say", "Play", "Pause") and handler:
                handler(child, url)
        self._line("gather", info.describe())
        given = self.inputs(info)
        if given is WAIT:
            self.transcript.waiting_for = info
            raise _Ended("waiting", "Waiting for the caller...")
        if not given:
            self._line("caller", "Caller does nothing (the Gather times out)")
            if element.get("actionOnEmptyResult") == "true":
                return self._action(element, url, {"Digits": ""})
            return None  # Twilio falls through to the next verb
        if given.digits:
            self._line("caller", f"Caller presses {given.digits}")
            params = {"Digits": given.digits}
        else:
            self._line("caller", f"Caller says {_quote(given.speech)}")
            params = {"SpeechResult": given.speech, "Confidence": "0.9"}
        return self._action(element, url, params)

    def _verb_redirect(self, element, url):
        target = self.absolute((element.text or "").strip(), url)
        path = self.local_path(target)
        if path and _url_name(path) == "sms_step":
            # A flow's Sms step: marked as a simulation, its webhook sends nothing.
            self._line("sms", f"Texts the caller at {self.caller} (Sms step; not sent: simulation)")
        else:
            self._line("goto", f"Redirected to {path or target}")
        return (element.get("method", "POST").upper(), target, {})

    def _verb_dial(self, element, url):
        targets = [f"{child.tag.lower()} {(child.text or '').strip()}" for child in element]
        target = ", ".join(targets) or (element.text or "").strip()
        notes = [f"timeout {element.get('timeout')} s"] if element.get("timeout") else []
        if element.get("callerId"):
            notes.append(f"caller ID {element.get('callerId')}")
        if any(child.get("url") for child in element):
            notes.append("screened: the person answering must press 1")
        extra = f" ({', '.join(notes)})" if notes else ""
        self._line("dial", f"Dials {target}{extra}: {self.dial_status}")
        status = self.dial_status
        if element.get("action") is None:
            return None  # Twilio continues with the next verb after the dialled call
        params = {"DialCallStatus": status}
        if status == "completed":
            params.update(
                {
                    "DialCallSid": "CA" + uuid.uuid4().hex,
                    "DialCallDuration": "42",
                    "DialBridged": "true",
                }
            )
        return self._action(element, url, params)

    def _verb_record(self, element, url):
        beep = "beep, " if element.get("playBeep", "true") != "false" else ""
        limit = element.get("maxLength", "3600")
        self._line(
            "record",
            f"Records ({beep}up to {limit} s): the caller leaves a "
            f"{FAKE_RECORDING_SECONDS}-second message; {_stored_where(element)}",
        )
        recording_sid = "RE" + uuid.uuid4().hex
        params = {
            "RecordingSid": recording_sid,
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/simulated/Recordings/{recording_sid}",
            "RecordingDuration": str(FAKE_RECORDING_SECONDS),
            "Digits": (element.get("finishOnKey") or "#")[:1],  # the caller pressed it
        }
        return self._action(element, url, params)  # no action: Twilio re-requests this URL

    def _verb_enqueue(self, element, url):
        result = _QUEUE_RESULT.get(self.dial_status, "hangup")
        self._line("dial", f"Waits in queue {_quote(element.text)}: QueueResult {result}")
        if element.get("action") is None:
            return None
        params = {"QueueResult": result, "QueueSid": "QU" + uuid.uuid4().hex, "QueueTime": "30"}
        return self._action(element, url, params)

    def _verb_sms(self, element, url):
        self._line("sms", f"Sends an SMS{_to(element)}: {_quote(element.text)}")

    def _verb_reject(self, element, url):
        raise _Ended(
            "reject",
            f"Rejects the call ({element.get('reason', 'rejected')}): it is over (<Reject>).",
        )

    def _verb_hangup(self, element, url):
        raise _Ended("hangup", "Hangs up: the call is over (<Hangup>).")


def _hours_notes(response) -> list[dict]:
    raw = response.headers.get(HOURS_HEADER)
    if not raw:
        return []
    try:
        notes = json.loads(unquote(raw))
    except ValueError:
        return []
    return [note for note in notes if isinstance(note, dict)] if isinstance(notes, list) else []


def _url_name(path: str) -> str:
    try:
        return resolve(urlsplit(path).path).url_name or ""
    except Resolver404:
        return ""


def _release_label(release) -> str | None:
    """None (the live release), "draft", or a release number as text."""
    if release in (None, ""):
        return None
    label = str(release).strip().lower()
    if not is_release_label(label):
        raise SimulatorError(f"{release!r} is no release: give its number, or draft.")
    return label


def _describe(release: str | None) -> str:
    if release is None:
        return "the live release"
    return "the draft" if release == DRAFT else f"release {release}"


def _snapshot(release: str | None):
    """The release a simulation plays (SimulatorError if there is none)."""
    loaded = snapshot(release) if release else live_snapshot()
    if loaded is None:
        raise SimulatorError(
            "Nothing is published yet: there is no live release (simulate the draft)."
            if release is None
            else f"There is no {_describe(release)}."
        )
    return loaded


def _stored_where(element) -> str:
    """Which voicemail box a Record's message would go to (from its callback's step)."""
    callback = element.get("recordingStatusCallback") or ""
    try:
        where = resolve(urlsplit(callback).path).kwargs
    except Resolver404:
        where = {}
    step = None
    if "release" in where:
        loaded_release = snapshot(where["release"])
        loaded = loaded_release.flow(where["slug"]) if loaded_release else None
        step = loaded.step_at(where["position"]) if loaded else None
    if step is None or step.box is None:
        return "the message would be stored in no voicemail box (only superusers could hear it)"
    return f"the message would be stored in box {step.box.name}"


def _to(element) -> str:
    return f" to {element.get('to')}" if element.get("to") else ""


# --- messages -------------------------------------------------------------------------


class SmsSimulator(LocalTwilio):
    """An incoming SMS posted to /twilio/sms/ (URL name telephony:sms); shows the replies."""

    def __init__(
        self, *, sender: str = DEFAULT_FROM, max_requests: int = 10, release: str | None = None
    ):
        super().__init__()
        self.sender = normalise_number(sender, "number to send from")
        self.max_requests = max_requests
        self.release = _release_label(release)

    def run(self, *, to: str, body: str) -> Transcript:
        to = normalise_number(to)
        try:
            path = (
                reverse("telephony:sms")
                if self.release is None
                else reverse("telephony:release_sms", kwargs={"release": self.release})
            )
        except NoReverseMatch:
            raise SimulatorError(
                "The SMS webhook (URL name telephony:sms) is not installed in this version."
            ) from None
        transcript = Transcript(call_sid="SM" + uuid.uuid4().hex)
        transcript.lines.append(Line("start", f"SMS from {self.sender} to {to}"))
        transcript.lines.append(Line("caller", f"You: {body}"))
        params = {
            "AccountSid": settings.TWILIO_ACCOUNT_SID or "AC" + "0" * 32,
            "ApiVersion": "2010-04-01",
            "MessageSid": transcript.call_sid,
            "SmsSid": transcript.call_sid,
            "SmsMessageSid": transcript.call_sid,
            "SmsStatus": "received",
            "From": self.sender,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
        }
        url, method = self.base + path, "POST"
        try:
            while True:
                if transcript.requests >= self.max_requests:
                    raise _Ended("loop-limit", f"Stopped after {self.max_requests} requests.")
                if self.local_path(url) is None:
                    raise _Ended("external", f"Twilio would now fetch {url}; stop.")
                response = self.request(method, url, params)
                transcript.requests += 1
                root = _parse(response)
                redirect = None
                replies = 0
                for element in root:
                    if element.tag == "Message":
                        body_el = element.find("Body")
                        text = body_el.text if body_el is not None else element.text
                        transcript.lines.append(Line("say", f"Reply{_to(element)}: {text or ''}"))
                        replies += 1
                    elif element.tag == "Redirect":
                        redirect = element
                        break
                    else:
                        transcript.lines.append(Line("other", f"<{element.tag}> (not simulated)"))
                if redirect is None:
                    if not replies and transcript.requests == 1:
                        transcript.lines.append(Line("say", "(no reply)"))
                    raise _Ended("end", "Done.")
                url = self.absolute((redirect.text or "").strip(), url)
                method = redirect.get("method", "POST").upper()
                transcript.lines.append(
                    Line("goto", f"Redirected to {self.local_path(url) or url}")
                )
        except _Ended as end:
            transcript.ended = end.reason
            transcript.lines.append(Line("end", end.text))
        return transcript
