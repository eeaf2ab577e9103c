"""The voice webhooks: a call comes in, a flow runs, and each step's outcome comes back.

A call begins on the live release (the draft for a test caller) and stays on it: every
URL its TwiML hands Twilio names the release (flows/links.py), and those webhooks read
that release whatever is live by then. Every answer comes from the worker's memory of
the releases (flows/cache.py) once it holds them, so a warm worker answers calls while
the database is away. The call's log row is queued for the background writer
(logs/calls.py), never waited for, and so is what each answer does to the caller: the
call's events (logs/events.py; flows/journey.py builds them, answers.py caches them).

Hours steps are decided when their flow's document is rendered, at the time of the
request (flows/answers.py says why), from the release's schedules in memory. A simulated
call may say what time it is (`SwitchboardAt`, signed like the rest) and is told what was
decided in a response header (`X-Switchboard-Hours`), which the simulator shows.
"""

import json
import logging
from urllib.parse import quote

from django.core.exceptions import ValidationError
from twilio.twiml import TwiML
from twilio.twiml.voice_response import VoiceResponse

from telephony.broadcasts import services as campaigns
from telephony.exceptions import TelephonyError
from telephony.flows import answers, cache, journey, menus, schedules, twiml
from telephony.flows.fixtures import LoadedFlow, stored_pk
from telephony.flows.loading import caller_rule, live_snapshot, release_for_caller, snapshot
from telephony.logs import calls, events
from telephony.logs.events import Event
from telephony.models import Step
from telephony.phone_numbers import e164
from telephony.sending import services
from telephony.text import printable
from telephony.voicemail import recordings
from telephony.webhooks.base import StoringWebhookView, TwilioWebhookView
from telephony.webhooks.journey import record_journey
from telephony.webhooks.params import param
from telephony.webhooks.replay import log_for_replay
from telephony.webhooks.signatures import SIMULATED_AT_PARAM, is_simulation
from telephony.webhooks.voicemail import report_from

logger = logging.getLogger(__name__)

HOURS_HEADER = "X-Switchboard-Hours"
# Steps after which Twilio leaves the document: later Hours steps are not reached.
_LEAVES = {Step.Verb.REDIRECT, Step.Verb.HANGUP, Step.Verb.REJECT, Step.Verb.SMS}


def call_time(request):
    """When this request happens, for Hours steps: now (schedules.now()), or the time a
    simulated call says it is."""
    if is_simulation(request) and request.POST.get(SIMULATED_AT_PARAM):
        try:
            return schedules.parse_time(request.POST[SIMULATED_AT_PARAM])
        except ValueError:
            pass
    return schedules.now()


class HoursMixin:
    """Decides a flow's Hours steps for this request, and tells a simulator what it did."""

    def hours(self, request, loaded: LoadedFlow, steps=None) -> dict:
        """Decisions (by step position) of the Hours steps among `steps` (default: the
        whole flow, about to be rendered)."""
        steps = loaded.steps if steps is None else tuple(steps)
        if not loaded.hours_steps:
            return {}
        decisions = schedules.decide_flow(loaded, call_time(request), steps)
        if is_simulation(request):
            notes = request.__dict__.setdefault("telephony_hours", [])
            for step in steps:
                if step.verb == Step.Verb.HOURS:
                    decision = decisions[step.position]
                    target = twiml.hours_branch(step, decision)
                    notes.append({**decision._asdict(), "to": target.slug if target else ""})
                    if target is not None:
                        break
                elif step.verb in _LEAVES:
                    break
        return decisions

    def annotate(self, request, response):
        notes = getattr(request, "telephony_hours", None)
        if notes:
            response.headers[HOURS_HEADER] = quote(json.dumps(notes))
        return response


Kind = events.Kind


class VoiceWebhook(HoursMixin, TwilioWebhookView):
    """A call came in: the `To` number picks the flow that answers, in the live release
    (in the draft when a test caller calls), unless a caller rule of that release applies
    to the caller first (blocked: refused or sent to its flow; priority: to its flow)."""

    def release(self, request, **kwargs) -> str:
        return release_for_caller(request.POST.get("From", ""))

    def handle(self, request, **kwargs):
        answer = rule = None
        release = ""
        try:
            release = request.telephony_release = self.release(request, **kwargs)
            to, caller = request.POST.get("To", ""), request.POST.get("From", "")
            rule = caller_rule(release, to=to, caller=caller)
            if rule is not None:
                logger.info(
                    "Caller rule %s (%s) applies to a call from %s to %s",
                    rule.pattern,
                    rule.kind,
                    printable(caller, 64),
                    printable(to, 64),
                )
                answer = answers.caller_rule_answer(
                    release, rule, hours=lambda flow: self.hours(request, flow)
                )
            else:
                answer = answers.voice_answer(
                    release, to, hours=lambda flow: self.hours(request, flow)
                )
        finally:  # a call we could not answer as we should is logged all the same
            if not is_simulation(request):  # a simulated call is not a call
                log_inbound_call(request, answer.flow_id if answer else None)
        request.telephony_flow = answer.flow_slug  # for the webhook log line
        record_journey(request, (*caller_rule_applied(answer, rule), *answer.events), release)
        return answer.xml


def caller_rule_applied(answer, rule) -> tuple[Event, ...]:
    """The caller rule applied to the call, if any: its first event. Who called which
    number is the call's log row (logs/timeline.py starts the journey with it)."""
    if rule is None:
        return ()
    action = rule.get_action_display().lower() if rule.action else ""
    return (
        Event(
            Kind.CALLER_RULE,
            flow=answer.flow_slug,
            option=str(rule.action or rule.kind)[:64],
            detail=printable(
                f"caller rule {rule.pattern} ({rule.get_kind_display().lower()}): {action}", 500
            ),
        ),
    )


class ReleaseVoiceWebhook(VoiceWebhook):
    """A call to a number as a given release answers it (the simulator, `--release N`)."""

    def release(self, request, release):
        return release


def log_inbound_call(request, flow_id: int | None) -> None:
    try:
        calls.record_inbound_call(
            sid=param(request, "CallSid"),
            from_=param(request, "From"),
            to=param(request, "To"),
            status=param(request, "CallStatus"),
            flow_id=flow_id,
        )
    except Exception as exc:  # a log row is never worth a caller's call: answer anyway
        logger.exception("Could not log inbound call %s", printable(param(request, "CallSid"), 34))
        log_for_replay(request, type(exc).__name__)


class FlowWebhook(HoursMixin, TwilioWebhookView):
    """Run a flow by slug: of the live release (outbound calls' `url`), or of the release
    the URL names (Redirects between flows)."""

    def handle(self, request, slug, release=None):
        loaded_release = snapshot(release) if release else live_snapshot()
        request.telephony_release = loaded_release.release if loaded_release else ""
        loaded = loaded_release.flow(slug) if loaded_release else None
        if loaded is None:
            record_journey(request, answers.goodbye_events(twiml.UNAVAILABLE), release or "")
            return answers.goodbye_twiml(twiml.UNAVAILABLE)
        decided = self.hours(request, loaded)
        record_journey(request, answers.flow_events(loaded, decided), loaded.release)
        return answers.flow_twiml(loaded, decided)


class StepOutcomeView(HoursMixin, TwilioWebhookView):
    """Base for the internal URLs a step hands Twilio (Gather/Dial/Record/Enqueue actions):
    the release, flow and step position in the URL say where the call is."""

    verb: str | None = None  # the verb of the steps this is an outcome of

    def handle(self, request, release, slug, position):
        self.journey: list[Event] = []  # what this answer does to the caller
        try:
            return self._handle(request, release, slug, position)
        finally:
            record_journey(request, tuple(self.journey), release)

    def _handle(self, request, release, slug, position):
        loaded_release = snapshot(release)
        loaded = loaded_release.flow(slug) if loaded_release else None
        step = loaded.step_at(position) if loaded else None
        if step is None or not loaded.flow.is_active:  # no such step in that release
            return self.goodbye(twiml.UNAVAILABLE)
        if self.verb is not None and step.verb != self.verb:  # not this step's outcome
            return self.goodbye(twiml.UNAVAILABLE)
        return self.outcome(request, loaded, step)

    def goodbye(self, message: str) -> str:
        self.journey.extend(answers.goodbye_events(message))
        return answers.goodbye_twiml(message)

    def outcome(self, request, loaded: LoadedFlow, step) -> TwiML | str:
        raise NotImplementedError

    def go_to(self, flow: LoadedFlow | None, *, named: bool = False) -> TwiML | str:
        """Render another flow of the same release; a missing or inactive one ends the
        call politely. `named`: the answer's event so far names the flow (a menu choice,
        "pressed 1 -> Sales"), so entering it is no event of its own."""
        if flow is None or not flow.flow.is_active:
            return self.goodbye(twiml.UNAVAILABLE)
        decided = self.hours(self.request, flow)
        self.journey.extend(answers.flow_events(flow, decided)[1 if named else 0 :])
        return answers.flow_twiml(flow, decided)

    @staticmethod
    def flow_of(loaded: LoadedFlow, flow) -> LoadedFlow | None:
        """The loaded flow of `loaded`'s release that `flow` (a target) names."""
        if flow is None:
            return None
        release = snapshot(loaded.release)
        return release.flow(flow.slug) if release else None

    def continue_after(self, loaded: LoadedFlow, step, response=None) -> VoiceResponse:
        """The steps after `step` (after what `response` holds already)."""
        steps = loaded.steps_after(step)
        decided = self.hours(self.request, loaded, steps)
        self.journey.extend(journey.steps(loaded, steps, decided))
        return twiml.render_steps(
            response if response is not None else VoiceResponse(),
            loaded,
            steps,
            hours=decided,
        )


class GatherWebhook(StepOutcomeView):
    """The caller's choice at a menu. No key or a key no option has: the menu again, at
    most `step.tries` times (the try is in the action URL's ?try=), then the step's
    give-up flow, else the steps after the menu, else a polite goodbye."""

    verb = Step.Verb.GATHER

    def outcome(self, request, loaded, step):
        digits = request.POST.get("Digits", "").strip()
        speech = request.POST.get("SpeechResult", "").strip()
        attempt = _attempt(request.GET.get("try", ""), step.tries)
        if digits or speech:
            option = menus.match_option(loaded.options, digits=digits, speech=speech)
            self.journey.append(
                journey.menu_input(
                    loaded, step, option, digits=digits, speech=speech, attempt=attempt
                )
            )
            if option is not None:
                record_campaign_choice(request, digits or speech)
                return self.go_to(self.flow_of(loaded, option.target_flow), named=True)
        else:
            self.journey.append(journey.no_input(loaded, step, attempt))
        if attempt < step.tries:
            response = VoiceResponse()
            response.say(twiml.INVALID_OPTION if digits or speech else twiml.NO_INPUT)
            steps = (step, *loaded.steps_after(step))
            decided = self.hours(request, loaded, steps)
            self.journey.extend(journey.steps(loaded, steps, decided, attempt=attempt + 1))
            return twiml.render_steps(
                response, loaded, steps, retry=(step, attempt + 1), hours=decided
            )
        if step.give_up_flow is not None:
            return self.go_to(self.flow_of(loaded, step.give_up_flow))
        after = loaded.steps_after(step)
        # Steps after the menu that start it over would start the count over too: the
        # tries are per call, so a caller who made no choice is told goodbye instead.
        starts_over = any(
            later.verb == Step.Verb.REDIRECT
            and later.next_flow is not None
            and later.next_flow.slug == loaded.slug
            for later in after
        )
        if after and not starts_over:
            return self.continue_after(loaded, step)
        return self.goodbye(twiml.GAVE_UP)


def record_campaign_choice(request, pressed: str) -> None:
    """A call we placed (Direction outbound-api, as a call campaign's are) chose a menu
    option: keep it on the campaign's recipient (one UPDATE, by CallSid). Inbound calls
    never pay for it, and a database that is away or fails it never costs the person
    their call: the request is logged for replay_webhook (the first choice is kept, so a
    replay changes nothing once recorded)."""
    if request.POST.get("Direction") != "outbound-api" or is_simulation(request):
        return
    if not cache.database_reachable():  # no waiting on it: the person is on the line
        log_for_replay(request, "database unreachable")
        return
    try:
        campaigns.record_pressed(call_sid=param(request, "CallSid", 34), pressed=pressed)
    except Exception as exc:
        logger.exception(
            "Could not record the option pressed on call %s",
            printable(param(request, "CallSid"), 34),
        )
        log_for_replay(request, type(exc).__name__)


def _attempt(value: str, tries: int) -> int:
    """The try the caller is on, from the action URL (1 when absent or not a number)."""
    attempt = int(value) if value.isdigit() and len(value) < 3 else 1
    return min(max(attempt, 1), max(tries, 1))


class DialOutcomeWebhook(StepOutcomeView):
    """A Dial ended. Answered (and, when screened, accepted): the answered flow or hang
    up. Not: the next person when ringing one after another, else the no-answer flow or
    the steps after the Dial."""

    verb = Step.Verb.DIAL

    def outcome(self, request, loaded, step):
        ring = _whole(request.GET.get("ring", ""))
        answered = self.answered(request, step)
        self.journey.append(
            journey.dial_ended(
                loaded,
                step,
                status=param(request, "DialCallStatus", 20),
                answered=answered,
                duration=_whole(param(request, "DialCallDuration", 10), digits=9),
                ring=ring,
            )
        )
        if answered:
            if step.answered_flow is None:
                response = VoiceResponse()
                response.hangup()
                return response
            return self.go_to(self.flow_of(loaded, step.answered_flow))
        # busy, no-answer, failed, canceled; or answered but not accepted
        if step.ring_mode == Step.RingMode.IN_TURN and ring + 1 < len(step.ring_targets()):
            self.journey.append(journey.dial_started(loaded, step, ring + 1))
            return twiml.render_dial(step, loaded, ring + 1)
        if step.next_flow is None:
            return self.continue_after(loaded, step)
        return self.go_to(self.flow_of(loaded, step.next_flow))

    @staticmethod
    def answered(request, step) -> bool:
        if request.POST.get("DialCallStatus") != "completed":
            return False
        # A screened call the person did not accept was answered, but never bridged.
        return not step.screen or request.POST.get("DialBridged", "true") != "false"


def _whole(value: str, digits: int = 2) -> int:
    return int(value) if value.isascii() and value.isdigit() and len(value) <= digits else 0


class DialRecordingWebhook(StepOutcomeView, StoringWebhookView):
    """A recorded Dial's recordingStatusCallback: the recording goes on the call's log."""

    verb = Step.Verb.DIAL

    def outcome(self, request, loaded, step):
        if request.POST.get("RecordingStatus", "completed") == "completed":
            calls.record_call_recording(
                sid=param(request, "CallSid", 34),
                recording_sid=param(request, "RecordingSid", 34),
                recording_url=param(request, "RecordingUrl", 500),
                duration=param(request, "RecordingDuration", 10),
                from_=param(request, "From"),
                to=param(request, "To"),
            )
        return VoiceResponse()


class ScreenWebhook(StepOutcomeView):
    """The person a screened Dial rings answered: ask them to accept (twiml.screening)."""

    verb = Step.Verb.DIAL

    def outcome(self, request, loaded, step):
        return twiml.screening(step, loaded)


class ScreenAcceptWebhook(StepOutcomeView):
    """Their key: 1 connects the caller (an empty answer bridges the call); else hang up."""

    verb = Step.Verb.DIAL

    def outcome(self, request, loaded, step):
        response = VoiceResponse()
        if request.POST.get("Digits", "").strip() != "1":
            response.hangup()
        return response


class ConferenceWebhook(StepOutcomeView):
    """A caller reaches a Conference step with moderators: a moderator starts the room and
    ends it on leaving; everyone else waits for one, hearing the hold music."""

    verb = Step.Verb.CONFERENCE

    def outcome(self, request, loaded, step):
        post = request.POST
        outbound = post.get("Direction", "inbound").startswith("outbound")
        caller = post.get("To", "") if outbound else post.get("From", "")
        return twiml.conference(step, loaded, moderator=caller in step.moderator_numbers())


class ConferenceEventsWebhook(StepOutcomeView, StoringWebhookView):
    """The room's statusCallback: a caller joined, so their call log names the room."""

    verb = Step.Verb.CONFERENCE

    def outcome(self, request, loaded, step):
        if request.POST.get("StatusCallbackEvent") == "participant-join":
            room = param(request, "FriendlyName", 128) or step.dial_target.strip()
            calls.record_conference(sid=param(request, "CallSid", 34), conference=room)
            self.journey.append(journey.conference(loaded, step, room))
        return VoiceResponse()


class RecordOutcomeWebhook(StepOutcomeView):
    verb = Step.Verb.RECORD

    def outcome(self, request, loaded, step):
        if not is_simulation(request):
            store_voicemail(request, loaded, step)
        if step.next_flow is None:
            return self.continue_after(loaded, step)
        return self.go_to(self.flow_of(loaded, step.next_flow))


def store_voicemail(request, loaded: LoadedFlow, step) -> None:
    """The Record action names the recording too: store it (webhooks/voicemail.py)."""
    try:
        recordings.record(
            report_from(
                request,
                source="Record action",
                box_id=stored_pk(step.box),
                step_id=stored_pk(step),
                flow_id=stored_pk(loaded.flow),
                transcribed=step.transcribe,
            )
        )
    except Exception as exc:  # the caller goes on; the recording callback stores it too
        logger.exception(
            "Could not store the voicemail of step %s of %s", step.position, loaded.slug
        )
        log_for_replay(request, type(exc).__name__)


class EnqueueOutcomeWebhook(StepOutcomeView):
    verb = Step.Verb.ENQUEUE
    LEFT_UNANSWERED = {"redirected", "queue-full", "error", "system-error", "leave"}

    def outcome(self, request, loaded, step):
        result = param(request, "QueueResult", 30)
        waited = _whole(param(request, "QueueTime", 10), digits=9)
        self.journey.append(journey.queue_left(loaded, step, result, waited))
        if result in self.LEFT_UNANSWERED and step.next_flow:
            return self.go_to(self.flow_of(loaded, step.next_flow))
        response = VoiceResponse()
        response.hangup()
        return response


class WaitMusicWebhook(StepOutcomeView):
    verb = Step.Verb.ENQUEUE

    def outcome(self, request, loaded, step):
        return twiml.render_wait_music(step)


class SmsStepWebhook(StepOutcomeView):
    """The call reached a Sms step: queue a text to the caller, then run the steps after it.

    The caller is `From` on an inbound call and `To` on an outbound one (`Direction`).
    No Twilio request is made here: a task worker sends the text. A text that cannot even
    be queued (the caller opted out or withheld their number, no SMS-capable number, the
    task queue is down) is logged and the caller told so; the call goes on either way.
    """

    NOT_SENT = "Sorry, we could not send you a text message."

    def outcome(self, request, loaded, step):
        post = request.POST
        outbound = post.get("Direction", "inbound").startswith("outbound")
        caller, ours = (post.get("To", ""), post.get("From", ""))
        if not outbound:
            caller, ours = ours, caller
        response = VoiceResponse()
        if step.verb != step.Verb.SMS:  # edited mid-call: carry on without texting
            return self.continue_after(loaded, step, response)
        if is_simulation(request):
            logger.info("Simulated call: Sms step %s of %s not sent", step.position, loaded.slug)
            return self.continue_after(loaded, step, response)
        try:
            # Records and queues the text; a task worker sends it (telephony/sending/tasks.py).
            services.queue_step_sms(
                step=step,
                call_sid=param(request, "CallSid", 34),
                caller=caller,
                our_number=e164(ours) or "",
            )
            self.journey.append(journey.sms(loaded, step, caller=printable(caller, 64)))
        except Exception as exc:  # a text is never worth the call: tell the caller, go on
            expected = isinstance(exc, TelephonyError | ValidationError)
            logger.log(
                logging.WARNING if expected else logging.ERROR,
                "Sms step %s of %s not sent to %s: %s",
                step.position,
                loaded.slug,
                printable(caller, 64),
                exc,
                exc_info=not expected,
            )
            response.say(self.NOT_SENT)
            self.journey.append(journey.sms(loaded, step, caller=printable(caller, 64), sent=False))
        return self.continue_after(loaded, step, response)
