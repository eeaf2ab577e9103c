"""The release soak's caller: whole calls followed from start to end, each checked.

wrk sends requests; it cannot read an answer and post the URL in it. This does, as
Twilio would: `Caller.run()` keeps `connections` requests in flight (one thread each,
http.client, every request signed with twilio's RequestValidator exactly as
bench/run.py's `signed_line` signs them) for `seconds`, and each request is the next
step of some call:

1. POST /twilio/voice/ for the demo number, a new CallSid: the main menu. The Gather's
   action names the release the call is on, N (/twilio/releases/N/flows/...).
2. One call in five first presses nothing: the Gather's action with no Digits (Twilio
   posts it, actionOnEmptyResult), which must ask the main menu of release N again.
3. The Gather's action with Digits=1 (sales: Say, Dial) or 2 (voicemail: Say, Record).
4. The Dial's action, DialCallStatus no-answer (on to voicemail) or, one in three,
   completed (Hangup); the Record's action with a RecordingSid, RecordingUrl and
   RecordingDuration (stores the voicemail; on to "voicemail thanks": Say, Hangup).

Between two requests of a call the caller "listens" for a random 0 to `think` seconds
(the thread meanwhile serves another call), so calls are in progress while releases are
published (bench/publisher.py, every 2 s): most calls span a publish. New calls come in
all the time (at least one request in four starts one), so each publish is met by new
calls within milliseconds, which shows how soon every worker serves it.

Every answer is checked: HTTP 200 and TwiML; every URL in it (attributes and Redirect
texts) names release N and no other; its first Say is the text that flow has in release
N (`release_texts(N)`: what the publisher wrote before publishing N), so a document of
another release is caught even where it names no URL; and it is the document the step
expects (a Gather, then a Dial or Record, ...). A call that fails any check counts once
in `mixed` (another release's URL or text) or in `wrong` (anything else), with the
first few examples kept for the report.

Only the standard library and twilio; no Django: run.py imports this.
"""

import heapq
import http.client
import random
import re
import statistics
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree

from twilio.request_validator import RequestValidator

# The Say steps that open the demo's flows (telephony/fixtures/demo.json), whose text the
# publisher changes in every release; by (flow slug, position).
DEMO_TEXTS = {
    ("main-menu", 1): "Thank you for calling the Switchboard demo.",
    ("sales", 1): "Connecting you to our sales team.",
    ("voicemail", 1): (
        "Please leave a message after the beep. Press the pound key when you are done."
    ),
    ("voicemail-thanks", 1): "Thank you for your message. Goodbye.",
}
RELEASE_URL = re.compile(r"/twilio/releases/([^/]+)/")
# A call makes 3.5 requests on average, so new calls taking a quarter of the requests
# leave room for every call in progress: no backlog builds up, and calls arrive steadily.
NEW_CALL_SHARE = 0.25


AGAIN = "main-menu, asked again"  # what a silent caller's Gather action answers
NO_INPUT = "Sorry, we didn't hear anything."  # telephony/flows/twiml.py, NO_INPUT


def release_texts(number: int) -> dict[tuple[str, int], str]:
    """What the demo's opening Says read in release `number`: release 1 is the demo as
    bench/data.py seeds it; the publisher writes these for every later one."""
    if number == 1:
        return dict(DEMO_TEXTS)
    texts = {key: f"Release {number}: {text}" for key, text in DEMO_TEXTS.items()}
    texts[("main-menu", 1)] = f"Release {number} greeting. {DEMO_TEXTS[('main-menu', 1)]}"
    return texts


@dataclass
class Call:
    sid: str
    digits: str  # what the caller presses at the menu
    silent_first: bool  # says nothing at the menu once (it is asked again) before pressing
    dial_status: str  # what the Dial's action reports
    release: str | None = None  # from the first answer
    started: float = 0.0  # time.time() the first request was sent
    first_answered: float = 0.0  # ... and answered
    ended: float = 0.0  # time.time() the last answer came
    hops: int = 0
    next: tuple | None = None  # (path and query, params, flow the answer must be, kind)
    failure: str = ""  # "" or a description of the first check that failed
    mixed: bool = False  # the failure was another release's URL or text


@dataclass
class Results:
    requests: int = 0
    latencies: list = field(default_factory=list)  # seconds, every request
    errors: dict = field(default_factory=dict)  # kind -> count (HTTP status, socket, ...)
    calls: list = field(default_factory=list)  # finished Call objects
    recordings: list = field(default_factory=list)  # RecordingSids posted
    voice_sids: list = field(default_factory=list)  # CallSids of the first requests

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Caller:
    def __init__(
        self,
        base: str,
        auth_token: str,
        account_sid: str,
        number: str,
        *,
        connections: int,
        seconds: float,
        think: float,
        run: str,
        seed: int = 0,
    ):
        self.base, self.number, self.account_sid = base.rstrip("/"), number, account_sid
        parts = urlsplit(self.base)
        self.host, self.port = parts.hostname, parts.port or 80
        self.validator = RequestValidator(auth_token)
        self.connections, self.seconds, self.think = connections, seconds, think
        self.run_id = run
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.waiting: list = []  # heap of (due, sequence, call): calls between two requests
        self.sequence = 0
        self.results = Results()
        self.deadline = 0.0

    # --- which request next -----------------------------------------------------------

    def _new_call(self) -> Call:
        i = self.sequence
        r = self.random.random
        call = Call(
            sid=f"CA{self.run_id}{i:024x}",
            digits="1" if r() < 0.5 else "2",
            silent_first=r() < 0.2,
            dial_status="completed" if r() < 1 / 3 else "no-answer",
        )
        call.next = ("/twilio/voice/", self._params(call, "ringing"), "main-menu", "menu")
        return call

    def _take(self) -> Call | None:
        """The next call to make a request for. A new call one time in four, or whenever
        no caller has stopped listening, else a call whose caller has: calls come in
        steadily all through the run (a new call's first request is what shows how soon
        a publish reaches new calls), while those in progress go on. After the deadline,
        only the calls in progress, without waiting."""
        with self.lock:
            now = time.monotonic()
            if now >= self.deadline:
                return heapq.heappop(self.waiting)[2] if self.waiting else None
            due = self.waiting and self.waiting[0][0] <= now
            if due and self.random.random() >= NEW_CALL_SHARE:
                return heapq.heappop(self.waiting)[2]
            self.sequence += 1
            return self._new_call()

    def _wait(self, call: Call) -> None:
        with self.lock:
            self.sequence += 1
            due = time.monotonic() + self.random.uniform(0, self.think)
            heapq.heappush(self.waiting, (due, self.sequence, call))

    # --- requests -----------------------------------------------------------------------

    def _params(self, call: Call, status: str, **extra) -> dict:
        caller = f"+1415{int(call.sid[-7:], 16) % 10**7:07d}"
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call.sid,
            "CallStatus": status,
            "Called": self.number,
            "Caller": caller,
            "Direction": "inbound",
            "From": caller,
            "To": self.number,
            **extra,
        }

    def _post(self, path: str, params: dict) -> tuple[int | None, bytes, float]:
        body = urlencode(params)
        # As bench/run.py's signed_line: the public URL (with its query) and the form.
        signature = self.validator.compute_signature(self.base + path, params)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }
        started = time.monotonic()
        connection = http.client.HTTPConnection(self.host, self.port, timeout=15)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            status, data = None, type(error).__name__.encode()
        finally:
            connection.close()
        return status, data, time.monotonic() - started

    # --- one step of a call -----------------------------------------------------------

    def _step(self, call: Call) -> None:
        path, params, flow, kind = call.next
        call.next = None
        sent = time.time()
        status, data, took = self._post(path, params)
        answered = time.time()
        with self.lock:
            self.results.requests += 1
            self.results.latencies.append(took)
            if kind == "menu" and call.hops == 0:
                self.results.voice_sids.append(call.sid)
            if kind == "voicemail-thanks":
                self.results.recordings.append(params["RecordingSid"])
        call.hops += 1
        if call.hops == 1:
            call.started, call.first_answered = sent, answered
        call.ended = answered
        if status != 200:
            with self.lock:
                self.results.error(f"HTTP {status}" if status else data.decode())
            return self._fail(call, f"{path}: {status or data.decode()}")
        try:
            document = ElementTree.fromstring(data)
        except ElementTree.ParseError:
            with self.lock:
                self.results.error("not XML")
            return self._fail(call, f"{path}: not XML: {data[:120]!r}")
        if not self._check(call, path, document, flow):
            return
        call.next = self._follow(call, document, kind)

    def _fail(self, call: Call, why: str, *, mixed: bool = False) -> None:
        if not call.failure:
            call.failure, call.mixed = why, mixed

    def _check(self, call: Call, path: str, document, flow: str | None) -> bool:
        """The answer names the call's release only, and reads as that release's flow."""
        urls = [value for element in document.iter() for value in element.attrib.values()]
        urls += [element.text or "" for element in document.iter("Redirect")]
        ours = [url for url in urls if "/twilio/" in url]
        named = {m.group(1) for url in ours if (m := RELEASE_URL.search(url))}
        unnamed = [url for url in ours if not RELEASE_URL.search(url)]
        if call.release is None:  # the first answer says which release the call is on
            gather = document.find("Gather")
            found = RELEASE_URL.search(gather.get("action", "")) if gather is not None else None
            if found is None:
                self._fail(call, f"{path}: the first answer has no Gather naming a release")
                return False
            call.release = found.group(1)
        if unnamed or not all(url.startswith(self.base + "/twilio/") for url in ours):
            self._fail(call, f"{path}: a URL of ours naming no release: {unnamed or ours}")
            return False
        if named - {call.release}:
            self._fail(
                call,
                f"{path}: URLs of release(s) {sorted(named - {call.release})} in a call on "
                f"release {call.release}",
                mixed=True,
            )
            return False
        say = document.find("Say")
        if flow is None:  # a Hangup alone (the Dial answered: the call ends)
            if [child.tag for child in document] != ["Hangup"]:
                self._fail(call, f"{path}: expected a Hangup, got {[c.tag for c in document]}")
                return False
            return True
        if not call.release.isdigit():
            self._fail(call, f"{path}: release {call.release!r}, not a published one")
            return False
        if flow == AGAIN:  # the menu asked again: the notice, then the Gather (URLs checked)
            expected = NO_INPUT
        else:
            expected = release_texts(int(call.release))[(flow, 1)]
        text = (say.text or "").strip() if say is not None else None
        if text != expected:
            other = re.match(r"Release (\d+)\b", text or "")
            mixed = text in DEMO_TEXTS.values() or (other and other.group(1) != call.release)
            self._fail(
                call,
                f"{path}: flow {flow} of release {call.release} opens with {expected!r}, "
                f"the answer with {text!r}",
                mixed=bool(mixed),
            )
            return False
        return True

    def _follow(self, call: Call, document, kind: str) -> tuple | None:
        """The next request of the call, from the answer: what Twilio would post."""
        tags = [child.tag for child in document]
        if kind == "menu":
            action = document.find("Gather").get("action")
            if call.silent_first and call.hops == 1:  # no input: the menu again, try 2
                params = self._params(call, "in-progress", Digits="", FinishedOnKey="")
                return (self._path(action), params, AGAIN, "menu")
            params = self._params(call, "in-progress", Digits=call.digits, FinishedOnKey="")
            flow = "sales" if call.digits == "1" else "voicemail"
            return (self._path(action), params, flow, flow)
        if kind == "sales":
            action = document.find("Dial").get("action")
            params = self._params(
                call,
                "in-progress",
                DialCallStatus=call.dial_status,
                DialCallDuration="30" if call.dial_status == "completed" else "0",
            )
            flow = None if call.dial_status == "completed" else "voicemail"
            return (self._path(action), params, flow, "hangup" if flow is None else "voicemail")
        if kind == "voicemail":
            action = document.find("Record").get("action")
            recording = f"RE{call.sid[2:]}"
            params = self._params(
                call,
                "in-progress",
                RecordingSid=recording,
                RecordingUrl=(
                    f"https://api.twilio.com/2010-04-01/Accounts/{self.account_sid}"
                    f"/Recordings/{recording}"
                ),
                RecordingDuration="7",
                Digits="#",
            )
            return (self._path(action), params, "voicemail-thanks", "voicemail-thanks")
        if tags and tags[-1] == "Hangup":
            return None  # the call is over
        self._fail(call, f"an answer Twilio could not go on from: {tags}")
        return None

    def _path(self, url: str) -> str:
        return url.removeprefix(self.base)

    # --- the run ------------------------------------------------------------------------

    def _worker(self) -> None:
        while (call := self._take()) is not None:
            try:
                self._step(call)
            except Exception as error:  # a caller that cannot go on is a failed call, counted
                self._fail(call, f"the caller could not go on: {type(error).__name__}: {error}")
                call.next = None
            if call.next is not None and not call.failure:
                self._wait(call)
            else:
                with self.lock:
                    self.results.calls.append(call)

    def run(self) -> Results:
        self.deadline = time.monotonic() + self.seconds
        threads = [
            threading.Thread(target=self._worker, name=f"caller-{i}", daemon=True)
            for i in range(self.connections)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(self.seconds + 120)
        return self.results


def summary(results: Results, publishes: list[dict]) -> dict:
    """The figures of a run, with `publishes` ({"release", "before", "after"} each)."""
    latencies = sorted(results.latencies)
    calls = results.calls
    after = {str(p["release"]): p["after"] for p in publishes}
    # A call "got an old release" when a newer one had been published (committed) before
    # its first request was sent; how long after that publish it was still answered so.
    stale = []
    for call in calls:
        if call.release is None or not call.release.isdigit():
            continue
        newer = [t for n, t in after.items() if int(n) > int(call.release) and t < call.started]
        if newer:
            stale.append((call.first_answered - min(newer), call.started - min(newer)))
    spanned = sum(
        1
        for call in calls
        if call.release
        and any(call.started < t < call.ended for n, t in after.items() if n != call.release)
    )
    failed = [call for call in calls if call.failure]
    return {
        "requests": results.requests,
        "errors": results.errors,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else 0.0,
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else 0.0,
        "calls": len(calls),
        "calls_checked": len(calls) - len(failed),
        "mixed": sum(call.mixed for call in failed),
        "wrong": sum(not call.mixed for call in failed),
        "examples": [f"{call.sid} (release {call.release}): {call.failure}" for call in failed[:5]],
        "hops": dict(sorted(_count(call.hops for call in calls).items())),
        "releases_seen": len({call.release for call in calls if call.release}),
        "calls_per_release": dict(
            sorted(_count(call.release for call in calls if call.release).items(), key=_number)
        ),
        "spanned_a_publish": spanned,
        "stale_calls": len(stale),
        "stale_max_s": max((s[0] for s in stale), default=0.0),
        "stale_max_sent_s": max((s[1] for s in stale), default=0.0),
    }


def _number(item) -> int:
    return int(item[0]) if item[0].isdigit() else -1


def _count(values) -> dict:
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts
