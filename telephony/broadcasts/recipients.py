"""A recipient list read from what staff paste (one number a line) or a CSV file.

A CSV has a header row with a `number` (or `phone`) column; every other column is a
placeholder value ({name} in the body). Numbers go through the one normaliser
(phone_numbers.e164, read in TELEPHONY_DEFAULT_REGION); a row that is no number, or
lacks a value the body needs, is reported with its line number and why; a number that
appears twice is kept once. No query here: opt-outs are the caller's business.
"""

import csv
import io
from dataclasses import dataclass, field

from django.conf import settings

from telephony.exceptions import TelephonyValidationError
from telephony.phone_numbers import e164

NUMBER_COLUMNS = ("number", "phone")


@dataclass(frozen=True)
class Problem:
    line: int
    value: str
    reason: str

    def __str__(self):
        return f"line {self.line}: {self.value!r}: {self.reason}"


@dataclass
class RecipientList:
    rows: list[tuple[str, dict]] = field(default_factory=list)  # (E.164, placeholder values)
    problems: list[Problem] = field(default_factory=list)
    duplicates: int = 0
    columns: list[str] = field(default_factory=list)  # the placeholder columns


def _add(result: RecipientList, seen: set, line: int, raw: str, variables: dict, needed):
    number = e164(raw, region=settings.PHONENUMBER_DEFAULT_REGION)
    if number is None:
        reason = "empty" if not raw.strip() else "not a valid phone number (use E.164, +1415...)"
        result.problems.append(Problem(line, raw, reason))
        return
    missing = [name for name in needed if not str(variables.get(name, "")).strip()]
    if missing:
        result.problems.append(Problem(line, raw, f"no value for {{{', '.join(missing)}}}"))
        return
    if number in seen:
        result.duplicates += 1
        return
    seen.add(number)
    result.rows.append((number, variables))


def parse_pasted(text: str, *, needed=()) -> RecipientList:
    """One number a line; blank lines are ignored. `needed`: placeholders the body uses
    (a pasted list has no values for them, so every line is reported)."""
    result, seen = RecipientList(), set()
    for line, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            _add(result, seen, line, raw.strip(), {}, needed)
    return result


def parse_csv(text: str, *, needed=()) -> RecipientList:
    """A CSV with a header row. Raises TelephonyValidationError without a number column,
    or when the body uses a placeholder no column holds."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in next(reader, [])]
    lowered = [name.lower() for name in header]
    column = next((lowered.index(name) for name in NUMBER_COLUMNS if name in lowered), None)
    if column is None:
        raise TelephonyValidationError(
            {
                "recipients": "The CSV's first row must name its columns, one of them number or phone."
            }
        )
    columns = [name for i, name in enumerate(header) if i != column and name]
    unknown = [name for name in needed if name not in columns]
    if unknown:
        raise TelephonyValidationError(
            {
                "body": f"The body uses {', '.join('{' + n + '}' for n in unknown)}, which no "
                f"column of the CSV holds (columns: {', '.join(columns) or 'none'})."
            }
        )
    result, seen = RecipientList(columns=columns), set()
    width = len(header)
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > width:
            result.problems.append(Problem(line, ",".join(row), f"{len(row)} fields, not {width}"))
            continue
        row = row + [""] * (width - len(row))
        variables = {name: row[i].strip() for i, name in enumerate(header) if i != column and name}
        _add(result, seen, line, row[column].strip(), variables, needed)
    return result
