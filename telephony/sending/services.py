"""Everything that sends: SMS, outbound calls, and reading/configuring the account's numbers.

`send_sms()` and `make_call()` are the only code that sends. Both normalise numbers to
E.164, check the sender is ours, enforce Twilio's limits, record the attempt *before*
the backend is called (so nothing sent is ever missing from the log, even if the process
dies mid-request), then record the outcome: Twilio's SID and status, or its error code
and message. Errors are raised as telephony.exceptions, after they are recorded.

A flow's Sms step must not keep a caller waiting on Twilio: `queue_step_sms()` validates
and records the message, and a task (telephony/sending/tasks.py) sends it later through
`deliver_pending_sms()`, which claims the row so that it is sent at most once.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from telephony.exceptions import (
    RecipientOptedOut,
    TelephonyConfigurationError,
    TelephonyError,
    TelephonySendError,
    TelephonyValidationError,
    TwilioTimeout,
    TwilioUnavailable,
)
from telephony.flows import links
from telephony.flows.fixtures import stored_pk
from telephony.logs import statuses
from telephony.models import (
    SMS_MAX_CHARS,
    CallFlow,
    CallLog,
    Direction,
    MessageLog,
    OptOut,
    PhoneNumber,
    Step,
    VerifiedCallerId,
)
from telephony.phone_numbers import to_e164
from telephony.sending.backends import get_backend
from telephony.sending.backends.base import (
    BaseTelephonyBackend,
    NumberWebhooks,
    OutboundCall,
    OutboundSms,
    Sent,
)

logger = logging.getLogger(__name__)

_http_url = URLValidator(schemes=["http", "https"])


# --- validation ---------------------------------------------------------------------------


def _sms_sender(from_) -> str:
    """The number an SMS goes out from: `from_` if it is one of our SMS-capable numbers,
    else TELEPHONY_DEFAULT_FROM, else our first SMS-capable number."""
    if not from_:
        from_ = (getattr(settings, "TELEPHONY_DEFAULT_FROM", "") or "").strip()
    if from_:
        number = to_e164(from_, "from_")
        phone = PhoneNumber.objects.filter(number=number).first()
        if phone is None and VerifiedCallerId.objects.filter(number=number).exists():
            raise TelephonyValidationError(
                {
                    "from_": f"{number} is a verified caller ID: it can make calls but not send "
                    "SMS (Twilio error 21601). Send from one of our numbers."
                }
            )
        if phone is None:
            raise TelephonyValidationError(
                {
                    "from_": f"{number} is not one of our numbers. Add it under Phone numbers "
                    "or run `manage.py sync_twilio_numbers`."
                }
            )
        if not phone.sms_capable:
            raise TelephonyValidationError(
                {"from_": f"{number} cannot send SMS (it is not SMS-capable)."}
            )
        return number
    phone = PhoneNumber.objects.filter(sms_capable=True).order_by("number").first()
    if phone is None:
        raise TelephonyConfigurationError(
            "There is no SMS-capable number to send from: add one under Phone numbers "
            "(or run `manage.py sync_twilio_numbers`), or give a From number."
        )
    return str(phone.number)


def _call_sender(from_) -> str:
    """The caller ID of an outbound call: one of our voice numbers or a verified caller ID."""
    if not from_:
        from_ = (getattr(settings, "TELEPHONY_DEFAULT_FROM", "") or "").strip()
    if from_:
        number = to_e164(from_, "from_")
        if PhoneNumber.objects.filter(number=number, voice_capable=True).exists():
            return number
        if VerifiedCallerId.objects.filter(number=number).exists():
            return number
        raise TelephonyValidationError(
            {
                "from_": f"{number} is neither one of our voice numbers nor a verified caller ID; "
                "Twilio would refuse the call (error 21210/21212)."
            }
        )
    phone = PhoneNumber.objects.filter(voice_capable=True).order_by("number").first()
    if phone is None:
        raise TelephonyConfigurationError(
            "There is no voice-capable number to call from: add one under Phone numbers "
            "(or run `manage.py sync_twilio_numbers`), or give a From number."
        )
    return str(phone.number)


def _check_message(body: str, media_urls: tuple[str, ...]) -> None:
    if not body.strip() and not media_urls:
        raise TelephonyValidationError({"body": "The message needs a body or a media URL."})
    if len(body) > SMS_MAX_CHARS:
        raise TelephonyValidationError(
            {"body": f"An SMS holds at most {SMS_MAX_CHARS} characters; this one has {len(body)}."}
        )
    for url in media_urls:
        try:
            _http_url(url)
        except ValidationError as exc:
            raise TelephonyValidationError(
                {"media_urls": f"{url!r} is not an absolute http(s) URL."}
            ) from exc


def _check_not_opted_out(to: str, sender: str) -> None:
    if OptOut.objects.filter(number=to).exists():
        raise RecipientOptedOut(
            f"{to} has opted out of our messages (replied STOP); they must text START to "
            f"{sender} before they can be texted again. Nothing was sent."
        )


def _status_callback() -> str | None:
    """Our status webhook, when we know our public URL (Twilio needs an absolute one)."""
    return links.webhook_url("status") if settings.TELEPHONY_PUBLIC_URL else None


# --- recording outcomes ---------------------------------------------------------------------


def _record_outcome(log, status: str, exc: Exception, message: str, level: int) -> None:
    """Store an outcome that is not Twilio's SID: the status, Twilio's code, what happened."""
    log.status = status
    log.error_code = getattr(exc, "code", None)
    log.error_message = message
    log.full_clean(validate_unique=False, validate_constraints=False)
    log.save(update_fields=["status", "error_code", "error_message", "updated_at"])
    logger.log(level, "%s %s to %s: %s", type(log).__name__, log.pk, log.to_number, message)


def _record_failure(log, exc: Exception) -> None:
    _record_outcome(log, statuses.FAILED, exc, str(exc) or exc.__class__.__name__, logging.WARNING)


def _record_unknown_outcome(log: MessageLog | CallLog, exc: Exception) -> None:
    """Twilio never answered a send: it may have sent it. Status "unknown", never resent."""
    message = f"Outcome unknown: check the Twilio console. {exc}"
    _record_outcome(log, statuses.UNKNOWN, exc, message, logging.ERROR)


def _release_for_retry(log: MessageLog | CallLog, exc: Exception) -> None:
    """Twilio was busy or unreachable and did not send it: pending again, for a later try."""
    _record_outcome(log, statuses.PENDING, exc, f"Waiting to retry: {exc}", logging.WARNING)


def _record_sent(log, sent: Sent, ranks: dict[str, int]):
    """Store Twilio's SID and status on the attempt row and return the row to keep.

    A status callback may beat us to it and create a row for the SID first; then that
    row is kept, completed with what only the attempt knew, and the attempt dropped.
    """
    log.sid = sent.sid
    if log.status in statuses.earlier_statuses(ranks, sent.status):
        log.status = sent.status
    log.full_clean(validate_unique=False, validate_constraints=False)
    logger.info(
        "%s %s from %s to %s: %s",
        type(log).__name__,
        sent.sid,
        log.from_number,
        log.to_number,
        sent.status,
    )
    try:
        with transaction.atomic():
            log.save(update_fields=["sid", "status", "updated_at"])
        return log
    except IntegrityError:
        pass
    with transaction.atomic():
        other = type(log).objects.select_for_update().get(sid=sent.sid)
        keep = {"sid", "status", "error_code", "error_message", "id", "created_at", "updated_at"}
        attempt_fields = {
            f.attname: getattr(log, f.attname)
            for f in log._meta.concrete_fields
            if f.attname not in keep
        }
        log.delete()  # frees its (call_sid, step) before the survivor takes them
        for name, value in attempt_fields.items():
            setattr(other, name, value)
        other.save()
    return other


# --- sending ----------------------------------------------------------------------------------


def send_sms(
    *, to: str, body: str, from_: str | None = None, media_urls: Sequence[str] = ()
) -> MessageLog:
    """Text `to`; returns the MessageLog row (with Twilio's SID and status).

    Raises TelephonyValidationError for bad input, RecipientOptedOut when `to` opted
    out (nothing is sent), TelephonyConfigurationError, or TelephonySendError (recorded).
    """
    to = to_e164(to)
    body = body or ""
    media = tuple(media_urls)
    _check_message(body, media)
    sender = _sms_sender(from_)
    _check_not_opted_out(to, sender)
    backend = get_backend()
    log = _pending_sms_log(sender=sender, to=to, body=body, media=media)
    log.full_clean()
    log.save()
    return _deliver_sms(backend, log)


def _pending_sms_log(*, sender: str, to: str, body: str, media, **extra) -> MessageLog:
    """The outbound row recorded before the backend is called (nothing sent is lost)."""
    return MessageLog(
        direction=Direction.OUTBOUND,
        from_number=sender,
        to_number=to,
        body=body,
        media_urls=list(media),
        status=statuses.PENDING,
        **extra,
    )


def record_pending_sms(
    *, to: str, sender: str, body: str, media_urls: Sequence[str] = ()
) -> MessageLog:
    """Record an outbound message as pending, for `deliver_pending_sms()` to send: how a
    broadcast records each attempt before Twilio is asked. `sender` was checked by the
    caller (one of our numbers, or a Messaging Service SID). Raises like send_sms()."""
    media = tuple(media_urls)
    _check_message(body, media)
    _check_not_opted_out(to, sender)
    log = _pending_sms_log(sender=sender, to=to, body=body, media=media)
    log.full_clean()
    log.save()
    return log


def queue_step_sms(*, step: Step, call_sid: str, caller: str, our_number: str) -> MessageLog | None:
    """Queue the message of a flow's Sms step for the caller, once per call; never waits
    for Twilio (the webhook answers at once, a task worker sends it).

    Validates as send_sms() does (raising the same errors, so the caller can be told),
    records the pending row, and enqueues `tasks.deliver_sms` with its id once the row is
    committed. Returns the row, or None when this call already has this step's message (a
    retried webhook, or the caller looping through the menu): nothing is queued then.
    The From is the number the call is on when it can send SMS, otherwise the default sender.
    """
    to = to_e164(caller)
    body = step.text
    media = (step.url,) if step.url else ()
    _check_message(body, media)
    usable = PhoneNumber.objects.filter(number=our_number, sms_capable=True).exists()
    sender = _sms_sender(our_number if usable else None)
    _check_not_opted_out(to, sender)
    # The step of the call's release, linked to the draft's row with its position (a
    # step no draft row matches any more is not linked, and so not kept to once per call).
    step_id = stored_pk(step)
    if step_id is not None and not Step.objects.filter(pk=step_id).exists():
        step_id = None  # deleted from the draft since the call's release was read
    log = _pending_sms_log(
        sender=sender, to=to, body=body, media=media, call_sid=call_sid, step_id=step_id
    )
    log.full_clean(validate_constraints=False)  # the constraint is enforced by the insert
    try:
        with transaction.atomic():
            log.save()
    except IntegrityError:
        logger.info("Sms step %s already queued for call %s; not again", step, call_sid)
        return None
    # After commit: a worker (on another machine, with RQ) must find the row it is given.
    # Outside a transaction, as in a webhook, this runs at once.
    transaction.on_commit(partial(_enqueue_delivery, log))
    return log


def _enqueue_delivery(log: MessageLog) -> None:
    from telephony.sending import tasks  # not at the top: tasks imports this module

    try:
        tasks.deliver_sms.enqueue(message_id=log.pk)
    except Exception as exc:  # the task backend is away (Redis down, say)
        error = TelephonySendError(
            f"Could not queue the message for sending ({type(exc).__name__}: {exc})."
        )
        _record_failure(log, error)
        raise error from exc


def deliver_pending_sms(*, message_id: int, retry_later: bool = False) -> MessageLog | None:
    """Send the recorded outbound message `message_id` (status pending) and record what
    Twilio answered: the body of the `tasks.deliver_sms` task.

    The row is claimed first with one conditional UPDATE (pending -> submitting), so of two
    workers, or a task run twice, exactly one sends; None means the row was not pending
    (sent, failed, or being sent by another worker) and nothing was sent.

    Raises what the backend raised, after recording it: TwilioTimeout as status "unknown"
    (Twilio may have sent it; never resent), TwilioUnavailable as pending again when
    `retry_later` (a later attempt may send it) or else failed, anything else as failed.
    """
    log = claim_pending_sms(message_id=message_id)
    if log is None:
        return None
    return send_claimed_sms(log, retry_later=retry_later)


def claim_pending_sms(*, message_id: int, log: MessageLog | None = None) -> MessageLog | None:
    """The first half of deliver_pending_sms(): claim the pending row (pending ->
    submitting) unless the recipient opted out meanwhile, in one conditional UPDATE.
    None when the row was not pending; RecipientOptedOut (recorded) when they opted out.
    `log`: the row as the caller holds it (saves reading it again). A broadcast claims
    its next message before that message's slot, so that only the request follows it."""
    opted_out = Exists(OptOut.objects.filter(number=OuterRef("to_number")))
    claimed = (
        MessageLog.objects.filter(pk=message_id, status=statuses.PENDING)
        .filter(~opted_out)
        .update(status=statuses.SUBMITTING, updated_at=timezone.now())
    )
    if not claimed:
        pending = MessageLog.objects.filter(pk=message_id, status=statuses.PENDING).first()
        if pending is None:
            logger.info("Message %s is not pending; not sending it", message_id)
            return None
        try:
            # The caller texted STOP while the message waited.
            _check_not_opted_out(pending.to_number, pending.from_number)
        except TelephonyError as exc:
            _record_failure(pending, exc)
            raise
        return None  # START came between the two statements: another attempt sends it
    if log is None or log.pk != message_id:
        return MessageLog.objects.get(pk=message_id)
    log.status = statuses.SUBMITTING
    return log


def send_claimed_sms(
    log: MessageLog, *, backend: BaseTelephonyBackend | None = None, retry_later: bool = False
) -> MessageLog:
    """The second half: ask Twilio to send the claimed (submitting) row and record the
    answer, raising as deliver_pending_sms() does. `backend`: one a broadcast keeps for
    all its messages (one HTTP connection), else the configured one."""
    if backend is None:
        try:
            backend = get_backend()
        except TelephonyError as exc:
            _record_failure(log, exc)
            raise
    return _deliver_sms(backend, log, retry_later=retry_later)


def record_pending_batch(
    *, sender: str, messages: Sequence[tuple[str, str]], media_urls: Sequence[str] = ()
) -> list[MessageLog | TelephonyError]:
    """record_pending_sms() for many (to, body) pairs in a few queries: one for the
    opt-outs, one INSERT. Returns, in order, the pending row or the error that kept each
    message from being recorded (RecipientOptedOut, TelephonyValidationError). Call it in
    a transaction with whatever links the rows to their purpose (a broadcast's
    recipients)."""
    media = tuple(media_urls)
    numbers = {to for to, _ in messages}
    opted_out = {
        str(n) for n in OptOut.objects.filter(number__in=numbers).values_list("number", flat=True)
    }
    results: list[MessageLog | TelephonyError] = []
    for to, body in messages:
        try:
            _check_message(body, media)
            if to in opted_out:
                _check_not_opted_out(to, sender)  # raises RecipientOptedOut
            log = _pending_sms_log(sender=sender, to=to, body=body, media=media)
            log.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            results.append(TelephonyValidationError(exc.message_dict))
            continue
        except TelephonyError as exc:
            results.append(exc)
            continue
        results.append(log)
    MessageLog.objects.bulk_create([log for log in results if isinstance(log, MessageLog)])
    return results


def fail_pending_sms(*, message_id: int, error: Exception) -> None:
    """Record the pending message `message_id` as failed: no task will send it (its retry
    could not be queued). A row another worker has claimed meanwhile is left alone."""
    MessageLog.objects.filter(pk=message_id, status=statuses.PENDING).update(
        status=statuses.FAILED,
        error_message=f"Could not queue a retry ({type(error).__name__}: {error}).",
        updated_at=timezone.now(),
    )


def _record_request_error(log, exc: Exception, *, retry_later: bool | None) -> None:
    """Record how asking Twilio for `log` failed. A timeout may have reached Twilio: its
    outcome is unknown (never resent blindly), unless the caller records every error as
    failed (`retry_later` None). Twilio busy or away: released for a retry when one will
    follow. Anything else: failed."""
    if isinstance(exc, TwilioTimeout) and retry_later is not None:
        _record_unknown_outcome(log, exc)
    elif isinstance(exc, TwilioUnavailable) and retry_later:
        _release_for_retry(log, exc)
    else:
        _record_failure(log, exc)


def _deliver_sms(backend, log: MessageLog, *, retry_later: bool | None = None) -> MessageLog:
    """Send `log` through `backend`. `retry_later` None: as send_sms() always has, every
    error is recorded as failed; True/False: a task's attempt (deliver_pending_sms())."""
    through_service = log.from_number.startswith("MG")  # a broadcast's Messaging Service
    message = OutboundSms(
        to=log.to_number,
        from_="" if through_service else log.from_number,
        messaging_service_sid=log.from_number if through_service else "",
        body=log.body,
        media_urls=tuple(log.media_urls),
        status_callback=_status_callback(),
    )
    try:
        sent = backend.send_sms(message)
    except Exception as exc:
        _record_request_error(log, exc, retry_later=retry_later)
        if isinstance(exc, RecipientOptedOut) and exc.code == 21610:
            record_opt_out(number=log.to_number, source=OptOut.Source.TWILIO)
        raise
    return _record_sent(log, sent, statuses.MESSAGE_RANKS)


def make_call(
    *,
    to: str,
    flow: CallFlow | str | None = None,
    url: str | None = None,
    from_: str | None = None,
) -> CallLog:
    """Call `to` and run `flow` (a CallFlow or its slug) or the TwiML at `url`.

    Twilio fetches the flow from TELEPHONY_PUBLIC_URL, so calling a flow needs it set.
    Returns the CallLog row; raises like send_sms().
    """
    to = to_e164(to)
    if (flow is None) == (not url):
        raise TelephonyValidationError(
            {"flow": "Give either a flow to run or a TwiML URL, not both and not neither."}
        )
    if flow is not None:
        if not isinstance(flow, CallFlow):
            slug = str(flow)
            flow = CallFlow.objects.filter(slug=slug).first()
            if flow is None:
                raise TelephonyValidationError({"flow": f"There is no call flow {slug!r}."})
        if not flow.is_active:
            raise TelephonyValidationError(
                {"flow": f"The flow {flow.slug!r} is inactive; activate it first."}
            )
        url = flow_call_url(flow.slug)
    else:
        try:
            _http_url(url)
        except ValidationError as exc:
            raise TelephonyValidationError(
                {"url": f"{url!r} is not an absolute http(s) URL Twilio could fetch."}
            ) from exc
    sender = _call_sender(from_)
    backend = get_backend()
    log = _pending_call_log(sender=sender, to=to, url=url, flow=flow)
    log.full_clean()
    log.save()
    return _place_call(backend, log)


def flow_call_url(slug: str) -> str:
    """The URL Twilio fetches for an outbound call running the flow `slug` of the live
    release. Raises TelephonyConfigurationError without TELEPHONY_PUBLIC_URL."""
    if not settings.TELEPHONY_PUBLIC_URL:
        raise TelephonyConfigurationError(
            "Calling a flow needs TELEPHONY_PUBLIC_URL (the https base URL Twilio can "
            "reach us at): Twilio fetches the flow's TwiML from there."
        )
    return links.live_flow_url(slug)


def _pending_call_log(*, sender: str, to: str, url: str, flow: CallFlow | None) -> CallLog:
    """The outbound call row recorded before the backend is called (nothing placed is lost)."""
    return CallLog(
        direction=Direction.OUTBOUND,
        from_number=sender,
        to_number=to,
        flow=flow,
        url=url,
        status=statuses.PENDING,
    )


def record_pending_call(*, to: str, from_: str, flow_slug: str) -> CallLog:
    """Record an outbound call running the live release's flow `flow_slug` as pending, for
    `deliver_pending_call()` to place: how a call campaign records each attempt before
    Twilio is asked. `to` is E.164 already; `from_` must be one of our voice numbers or a
    verified caller ID. Raises TelephonyValidationError, TelephonyConfigurationError."""
    url = flow_call_url(flow_slug)
    sender = _call_sender(from_)
    flow = CallFlow.objects.filter(slug=flow_slug).first()  # the log's link, if still drafted
    log = _pending_call_log(sender=sender, to=to, url=url, flow=flow)
    log.full_clean()
    log.save()
    return log


def deliver_pending_call(*, call_id: int, retry_later: bool = False) -> CallLog | None:
    """Place the recorded outbound call `call_id` (status pending) and record what Twilio
    answered, as deliver_pending_sms() does for a message: the row is claimed first
    (pending -> submitting) with one conditional UPDATE, so of two workers exactly one
    places it; None means it was not pending and nothing was placed. Raises what the
    backend raised, after recording it (a timeout as "unknown": never placed again)."""
    claimed = CallLog.objects.filter(pk=call_id, status=statuses.PENDING).update(
        status=statuses.SUBMITTING, updated_at=timezone.now()
    )
    if not claimed:
        logger.info("Call %s is not pending; not placing it", call_id)
        return None
    log = CallLog.objects.get(pk=call_id)
    try:
        backend = get_backend()
    except TelephonyError as exc:
        _record_failure(log, exc)
        raise
    return _place_call(backend, log, retry_later=retry_later)


def _place_call(backend, log: CallLog, *, retry_later: bool | None = None) -> CallLog:
    """Place `log` through `backend`. `retry_later` None: as make_call() always has, every
    error is recorded as failed; True/False: a campaign's attempt (deliver_pending_call())."""
    call = OutboundCall(
        to=log.to_number, from_=log.from_number, url=log.url, status_callback=_status_callback()
    )
    try:
        sent = backend.make_call(call)
    except Exception as exc:
        _record_request_error(log, exc, retry_later=retry_later)
        raise
    return _record_sent(log, sent, statuses.CALL_RANKS)


# --- opt-outs -----------------------------------------------------------------------------


def record_opt_out(*, number: str, source: str, keyword: str = "") -> OptOut:
    """Remember that `number` must not be texted again (idempotent)."""
    opt_out = OptOut(number=number, source=source, keyword=keyword[:160])
    opt_out.full_clean(validate_unique=False)
    # One statement whatever the concurrency: a second STOP changes nothing.
    OptOut.objects.bulk_create([opt_out], ignore_conflicts=True)
    return OptOut.objects.get(number=number)


def remove_opt_out(*, number: str) -> bool:
    deleted, _ = OptOut.objects.filter(number=number).delete()
    return bool(deleted)


# --- the account's numbers ----------------------------------------------------------------


@dataclass
class SyncResult:
    numbers_created: list[str] = field(default_factory=list)
    numbers_updated: list[str] = field(default_factory=list)
    caller_ids_created: list[str] = field(default_factory=list)
    caller_ids_updated: list[str] = field(default_factory=list)
    configured: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def number_webhooks() -> NumberWebhooks:
    """The URLs Twilio should call for each of our numbers (needs TELEPHONY_PUBLIC_URL)."""
    if not settings.TELEPHONY_PUBLIC_URL:
        raise TelephonyConfigurationError(
            "Pointing numbers at this deployment needs TELEPHONY_PUBLIC_URL (the https base "
            "URL Twilio can reach us at)."
        )
    return NumberWebhooks(
        voice_url=links.webhook_url("voice"),
        voice_fallback_url=links.webhook_url("fallback"),
        sms_url=links.webhook_url("sms"),
        sms_fallback_url=links.webhook_url("fallback"),
        status_callback=links.webhook_url("status"),
    )


def sync_numbers(*, configure_webhooks: bool = False) -> SyncResult:
    """Copy the account's IncomingPhoneNumbers and OutgoingCallerIds into PhoneNumber and
    VerifiedCallerId (never deleting ours), and optionally point each number's webhooks
    at this deployment. Flows attached to numbers are kept."""
    webhooks = number_webhooks() if configure_webhooks else None
    backend = get_backend()
    incoming = backend.incoming_numbers()
    caller_ids = backend.outgoing_caller_ids()
    result = SyncResult()
    for account_number in incoming:
        try:
            number = to_e164(account_number.number)
        except TelephonyValidationError:
            result.skipped.append(account_number.number)
            continue
        caps = account_number.capabilities
        phone = PhoneNumber.objects.filter(number=number).first()
        created = phone is None
        phone = phone or PhoneNumber(number=number)
        phone.sid = account_number.sid
        phone.friendly_name = account_number.friendly_name[:100]
        phone.voice_capable = bool(caps.get("voice", phone.voice_capable))
        phone.sms_capable = bool(caps.get("sms", phone.sms_capable))
        phone.mms_capable = bool(caps.get("mms", phone.mms_capable))
        phone.full_clean(validate_unique=False)
        phone.save()
        (result.numbers_created if created else result.numbers_updated).append(number)
        if webhooks is not None:
            backend.configure_number(account_number.sid, webhooks)
            result.configured.append(number)
    for account_number in caller_ids:
        try:
            number = to_e164(account_number.number)
        except TelephonyValidationError:
            result.skipped.append(account_number.number)
            continue
        caller_id, created = VerifiedCallerId.objects.get_or_create(number=number)
        caller_id.sid = account_number.sid
        caller_id.friendly_name = account_number.friendly_name[:100]
        caller_id.full_clean(validate_unique=False)
        caller_id.save()
        (result.caller_ids_created if created else result.caller_ids_updated).append(number)
    return result
