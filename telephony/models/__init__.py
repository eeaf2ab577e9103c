"""The data staff edit in the admin and the logs Twilio's webhooks fill, one module each.

- `numbers`: the account's phone numbers and verified caller IDs;
- `flows`: call flows, their steps and menu options;
- `messaging`: SMS auto-replies and opt-outs;
- `callers`: caller rules (blocked callers, priority callers);
- `logs`: call and message logs;
- `journeys`: what happened on each call, event by event, and how it ended;
- `releases`: published snapshots of the flows, and the test callers who hear the draft;
- `versions`: the row that tells workers the draft changed and which release is live;
- `voicemail`: voicemail boxes and the messages left in them;
- `broadcasts`: broadcasts and call campaigns, their recipients, the shared send pace;
- `schedules`: open hours, closed dates, public holidays and special days.
"""

from telephony.models.broadcasts import Broadcast, BroadcastRecipient, CallCampaign, SendPace
from telephony.models.callers import CallerRule
from telephony.models.flows import CallFlow, MenuOption, Step, option_fits_gather, renumber_steps
from telephony.models.journeys import CallEvent, CallOutcome
from telephony.models.limits import DTMF_KEYS, SAY_MAX_CHARS, SMS_MAX_CHARS
from telephony.models.logs import CallLog, Direction, LogEntry, MessageLog
from telephony.models.messaging import (
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    RESERVED_KEYWORDS,
    OptOut,
    SmsRule,
    normalize_keyword,
)
from telephony.models.numbers import PhoneNumber, VerifiedCallerId, is_our_caller_id
from telephony.models.releases import Release, TestCaller
from telephony.models.schedules import ClosedDate, OpenRange, Schedule, SpecialDay
from telephony.models.versions import FlowsVersion
from telephony.models.voicemail import Voicemail, VoicemailBox, listenable_boxes

__all__ = [
    "Broadcast",
    "BroadcastRecipient",
    "SendPace",
    "CallCampaign",
    "CallFlow",
    "CallerRule",
    "CallEvent",
    "CallOutcome",
    "CallLog",
    "ClosedDate",
    "DTMF_KEYS",
    "Direction",
    "FlowsVersion",
    "HELP_KEYWORDS",
    "LogEntry",
    "MenuOption",
    "MessageLog",
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "OpenRange",
    "OptOut",
    "PhoneNumber",
    "RESERVED_KEYWORDS",
    "Release",
    "TestCaller",
    "SAY_MAX_CHARS",
    "Schedule",
    "SMS_MAX_CHARS",
    "SmsRule",
    "SpecialDay",
    "Step",
    "VerifiedCallerId",
    "Voicemail",
    "VoicemailBox",
    "is_our_caller_id",
    "listenable_boxes",
    "normalize_keyword",
    "option_fits_gather",
    "renumber_steps",
]
