"""Broadcasts and call campaigns: importing a recipient list, sending (or calling) it
paced and exactly once, progress.

- `segments`: how many SMS segments a text costs, and its encoding (GSM-7 or UCS-2);
- `recipients`: a pasted list or a CSV read into numbers and placeholder values;
- `services`: create, start, pause, resume, cancel; progress; recovery of lost claims;
- `sending`: what a worker does: claim a batch, keep the pace, send, record;
- `calling`: the same for one recipient of a call campaign: record, keep the calls pace, call;
- `tasks`: the task on Django's Tasks API that runs `sending`;
- `queue_full`: Twilio said a sender's queue is full (21611, 30001): slow it down.
"""
