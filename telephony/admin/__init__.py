"""The staff UI in Django's admin; importing this package registers every ModelAdmin.

- `flows`: call flows (steps and menu options on one page), numbers, caller IDs;
- `logs`: call and message logs, SMS rules, opt-outs;
- `broadcasts`: broadcasts: create, start/pause/resume/cancel, progress, results;
- `campaigns`: call campaigns: a list called with a flow, outcomes and options pressed;
- `callers`: caller rules (blocked and priority callers);
- `releases`: the release list and pages, Publish changes, discarding draft changes, test
  callers, and the draft notice on flow and number pages;
- `schedules`: open hours, closed dates, holidays and special days, with a week view;
- `tools`: the flow checks, diagram and call simulators shown on flow and number pages;
- `voicemail`: the voicemail inbox and its boxes;
- `home`: the site's header and title, and the home page (index) that starts staff off.
"""

from telephony.admin import (  # noqa: F401  (registers the ModelAdmins)
    broadcasts,
    callers,
    campaigns,
    flows,
    home,
    logs,
    releases,
    schedules,
    voicemail,
)
