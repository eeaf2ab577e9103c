"""Schedules: when a line is open, in its own time zone, holidays included.

A `Schedule` has weekly opening hours (`OpenRange`: several a day, overnight allowed),
closed dates and date ranges (`ClosedDate`, with a label staff see), the public holidays
of a country (and subdivision) from the `holidays` package, and special days
(`SpecialDay`) that override both: open on a holiday or a closed date after all, with the
usual hours or others, or open on a day that is normally closed. An Hours step sends the
caller one way or the other (flows/schedules.py decides).

All four are published with the flows (a release holds them), so their natural keys are
made of what staff see: the schedule's name, a weekday and an opening time, a date.
"""

import datetime
import zoneinfo
from functools import lru_cache

import holidays
from django.core.exceptions import ValidationError
from django.db import models

WEEKDAYS = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]
MIDNIGHT = datetime.time(0, 0)


@lru_cache(maxsize=1)
def time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def holiday_countries() -> dict[str, list[str]]:
    """ISO country code -> its subdivision codes, as the `holidays` package knows them."""
    return holidays.list_supported_countries(include_aliases=False)


def split_region(country: str, subdivision: str) -> tuple[str, str]:
    """("US", "CA") from what staff type: "us" and "ca", or "US-CA" in the country field."""
    country, subdivision = country.strip().upper(), subdivision.strip().upper()
    if "-" in country and not subdivision:
        country, _, subdivision = country.partition("-")
    if subdivision.startswith(f"{country}-"):
        subdivision = subdivision[len(country) + 1 :]
    return country, subdivision


def span(opens: datetime.time, closes: datetime.time) -> str:
    """ "09:00-17:00"; a range that closes at or before it opens ends the next day."""
    return f"{opens:%H:%M}-{closes:%H:%M}"


class ScheduleManager(models.Manager):
    def get_by_natural_key(self, name):
        return self.get(name=name)


class Schedule(models.Model):
    """When a line is open: weekly hours, closed dates, public holidays, special days."""

    name = models.CharField(max_length=100, unique=True, help_text="e.g. Office hours.")
    time_zone = models.CharField(
        max_length=64,
        help_text=(
            "The hours below are local times there, e.g. America/New_York; daylight saving "
            "time is followed."
        ),
    )
    holiday_country = models.CharField(
        "public holidays of",
        max_length=10,
        blank=True,
        help_text=(
            "Closed on this country's public holidays: its ISO code, e.g. US (or US-CA for "
            "California's too). Blank: no public holidays."
        ),
    )
    holiday_subdivision = models.CharField(
        "subdivision",
        max_length=10,
        blank=True,
        help_text="State, province or region code for its own holidays too, e.g. CA. Optional.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScheduleManager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def natural_key(self):
        return (self.name,)

    @property
    def holiday_region(self) -> str:
        """ "US", "US-CA", or "" (no public holidays)."""
        if not self.holiday_country:
            return ""
        return "-".join(filter(None, [self.holiday_country, self.holiday_subdivision]))

    def clean(self):
        errors = {}
        self.time_zone = self.time_zone.strip()
        if not self.time_zone:
            errors["time_zone"] = "Choose the time zone of these hours, e.g. America/New_York."
        elif self.time_zone not in time_zone_names():
            errors["time_zone"] = (
                f"{self.time_zone!r} is not a time zone name; use one like America/New_York, "
                "Europe/London or Australia/Sydney."
            )
        self.holiday_country, self.holiday_subdivision = split_region(
            self.holiday_country, self.holiday_subdivision
        )
        countries = holiday_countries()
        if self.holiday_country and self.holiday_country not in countries:
            errors["holiday_country"] = (
                f"The holidays package knows no country {self.holiday_country!r}; use an ISO "
                "code such as US, GB, DE or AU."
            )
        elif self.holiday_subdivision:
            if not self.holiday_country:
                errors["holiday_subdivision"] = "Give the country of this subdivision too."
            elif self.holiday_subdivision not in countries[self.holiday_country]:
                known = ", ".join(countries[self.holiday_country][:12]) or "none"
                errors["holiday_subdivision"] = (
                    f"{self.holiday_country} has no subdivision {self.holiday_subdivision!r} "
                    f"in the holidays package (it knows {known}"
                    f"{'…' if len(countries[self.holiday_country]) > 12 else ''})."
                )
        if errors:
            raise ValidationError(errors)


class OpenRangeManager(models.Manager):
    def get_by_natural_key(self, schedule_name, weekday, opens):
        return self.get(schedule__name=schedule_name, weekday=weekday, opens=opens)


class OpenRange(models.Model):
    """Open on `weekday` from `opens` to `closes`; a range that closes at or before it
    opens runs past midnight (22:00-06:00), and 00:00-00:00 is the whole day."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="ranges")
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    opens = models.TimeField(help_text="e.g. 09:00")
    closes = models.TimeField(help_text="e.g. 17:00; before the opening time: the next day.")

    objects = OpenRangeManager()

    class Meta:
        ordering = ["schedule", "weekday", "opens"]
        verbose_name = "weekly opening hours"
        verbose_name_plural = "weekly opening hours"
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "weekday", "opens"],
                name="unique_open_range",
                violation_error_message="Another range of this day opens at the same time.",
            )
        ]

    def __str__(self):
        return f"{self.get_weekday_display()} {span(self.opens, self.closes)}"

    def natural_key(self):
        return (self.schedule.name, self.weekday, self.opens)

    natural_key.dependencies = ["telephony.schedule"]


class ClosedDateManager(models.Manager):
    def get_by_natural_key(self, schedule_name, starts):
        return self.get(schedule__name=schedule_name, starts=starts)


class ClosedDate(models.Model):
    """Closed all day (midnight to midnight, local time) from `starts` to `ends`."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="closures")
    starts = models.DateField("from")
    ends = models.DateField("to", null=True, blank=True, help_text="Blank: that day only.")
    label = models.CharField(
        max_length=100, help_text="Why, as staff and the simulator see it: e.g. Staff training."
    )

    objects = ClosedDateManager()

    class Meta:
        ordering = ["schedule", "starts"]
        verbose_name = "closed date"
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "starts"],
                name="unique_closed_date",
                violation_error_message="Another closure of this schedule starts that day.",
            )
        ]

    def __str__(self):
        if self.ends and self.ends != self.starts:
            return f"{self.starts:%Y-%m-%d} to {self.ends:%Y-%m-%d}: {self.label}"
        return f"{self.starts:%Y-%m-%d}: {self.label}"

    def natural_key(self):
        return (self.schedule.name, self.starts)

    natural_key.dependencies = ["telephony.schedule"]

    def clean(self):
        errors = {}
        if not self.label.strip():
            errors["label"] = "Say why the line is closed (staff and the simulator see it)."
        if self.ends is not None and self.starts and self.ends < self.starts:
            errors["ends"] = "The last day of the closure must not be before its first."
        if errors:
            raise ValidationError(errors)


class SpecialDayManager(models.Manager):
    def get_by_natural_key(self, schedule_name, date, opens):
        return self.get(schedule__name=schedule_name, date=date, opens=opens)


class SpecialDay(models.Model):
    """On `date`, open after all: a holiday or closed date overridden, or an extra day.

    With hours, those are the day's hours (several rows for several ranges); without,
    the usual weekly hours of that weekday apply even if the day is a holiday."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="special_days")
    date = models.DateField()
    opens = models.TimeField(null=True, blank=True, help_text="Blank (with closes): usual hours.")
    closes = models.TimeField(null=True, blank=True)
    label = models.CharField(max_length=100, help_text="e.g. Open on Columbus Day, Stock-taking.")

    objects = SpecialDayManager()

    class Meta:
        ordering = ["schedule", "date", "opens"]
        verbose_name = "special day"
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "date", "opens"],
                name="unique_special_hours",
                violation_error_message="Another range of this special day opens at that time.",
            ),
            models.UniqueConstraint(
                fields=["schedule", "date"],
                condition=models.Q(opens__isnull=True),
                name="unique_special_usual_hours",
                violation_error_message="This day is already open with its usual hours.",
            ),
        ]

    def __str__(self):
        hours = span(self.opens, self.closes) if self.opens else "usual hours"
        return f"{self.date:%Y-%m-%d} {hours}: {self.label}"

    def natural_key(self):
        return (self.schedule.name, self.date, self.opens)

    natural_key.dependencies = ["telephony.schedule"]

    def clean(self):
        errors = {}
        if (self.opens is None) != (self.closes is None):
            errors["closes" if self.closes is None else "opens"] = (
                "Give both the opening and the closing time, or neither (the usual hours)."
            )
        if not self.label.strip():
            errors["label"] = "Say what the day is (staff and the simulator see it)."
        if errors:
            raise ValidationError(errors)
