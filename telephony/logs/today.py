"""Today's calls, as the admin's home page counts them: how many, and how many missed.

"Today" is the current time zone's calendar day (TIME_ZONE, or the one activated for the
request), from midnight to midnight: the same window the admin's date filters use, so the
home page's link to the call log shows exactly the calls it counted. The counts are one
aggregate query over `created_at` (indexed), whatever the size of the log.
"""

import datetime
from dataclasses import dataclass
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.utils import timezone

from telephony.models import CallLog, CallOutcome, Direction


@dataclass(frozen=True)
class CallsToday:
    start: datetime.datetime
    end: datetime.datetime
    total: int
    inbound: int
    missed: int
    voicemail: int

    def log_query(self) -> str:
        """The call log's query string for this window (as its date filter writes it)."""
        return urlencode({"created_at__gte": str(self.start), "created_at__lt": str(self.end)})


def today_window(
    now: datetime.datetime | None = None,
) -> tuple[datetime.datetime, datetime.datetime]:
    """Local midnight today and tomorrow (aware datetimes)."""
    local = timezone.localtime(now or timezone.now())
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # Midnight tomorrow on the local clock, also across a daylight saving change.
    tomorrow = (start + datetime.timedelta(days=1, hours=2)).date()
    end = datetime.datetime.combine(tomorrow, datetime.time(), tzinfo=start.tzinfo)
    return start, end


def calls_today(now: datetime.datetime | None = None) -> CallsToday:
    start, end = today_window(now)
    counts = CallLog.objects.filter(created_at__gte=start, created_at__lt=end).aggregate(
        total=Count("pk"),
        inbound=Count("pk", filter=Q(direction=Direction.INBOUND)),
        # A call is missed when nobody answered it: its outcome says so (models/journeys.py),
        # the same word the call log's filter and the dashboard count.
        missed=Count("pk", filter=Q(outcome=CallOutcome.MISSED)),
        voicemail=Count("pk", filter=Q(outcome=CallOutcome.VOICEMAIL)),
    )
    return CallsToday(start=start, end=end, **counts)
