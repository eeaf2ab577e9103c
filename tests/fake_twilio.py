"""A local stand-in for api.twilio.com: a real HTTP server on 127.0.0.1, in a thread.

It speaks the slice of the 2010-04-01 REST API we use - Messages and Calls (create),
IncomingPhoneNumbers (list, paged, and update), OutgoingCallerIds (list), Recordings
(the media as .wav, with Range requests, and DELETE) - with Twilio's
JSON bodies and error bodies ({code, message, more_info, status}), and checks HTTP Basic
auth like Twilio (20003 otherwise). The real `twilio` client talks to it over HTTP, so
tests exercise the client's own URL building, form encoding and error parsing.

Tests script failures with `fail_next()` (an error status and code, optionally a delay to
provoke client timeouts), hold a request until they let it go with `hold_next()`, and
assert on `received`: every request's method, path, form fields and credentials.
"""

import base64
import io
import json
import re
import sys
import threading
import time
import uuid
import wave
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ACCOUNT_SID = "AC" + "0" * 32  # config.settings.test
AUTH_TOKEN = "test-auth-token"
API = f"/2010-04-01/Accounts/{ACCOUNT_SID}"


@dataclass
class Received:
    method: str
    path: str
    query: dict
    form: dict  # field -> list of values
    auth: tuple[str, str] | None
    headers: dict
    at: float = 0.0  # time.time() when it arrived
    answered: int = 0  # the HTTP status it got

    def field(self, name):
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class Planned:
    status: int
    body: dict | None
    delay: float = 0.0
    path_contains: str = ""
    hold: "Hold | None" = None


@dataclass
class Hold:
    """A request held by the fake: `arrived` is set when it comes in; it is answered once
    `release()` is called (or after `timeout` seconds, so a failing test cannot hang)."""

    timeout: float = 10.0
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self):
        self.released.set()


@dataclass
class FakeTwilio:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    page_size: int = 50
    numbers: list[dict] = field(default_factory=list)
    caller_ids: list[dict] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    planned: list[Planned] = field(default_factory=list)
    recordings: dict[str, bytes] = field(default_factory=dict)  # RecordingSid -> WAV bytes
    # fail_every(): every Nth message create gets this (status, code) answer.
    every: tuple[int, int, int | None] | None = None

    def __post_init__(self):
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without TCP_NODELAY, a kept-alive
            # connection (the twilio client reuses one) waits ~40 ms for the client's
            # delayed ACK before the body, on every answer after the first few.
            disable_nagle_algorithm = True

            def do_GET(self):
                fake._handle(self)

            def do_POST(self):
                fake._handle(self)

            def do_DELETE(self):
                fake._handle(self)

            def log_message(self, *args):  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        report = self.server.handle_error

        def handle_error(request, client_address):
            # A client killed mid-connection (the benches SIGKILL workers) is no error of ours.
            if not isinstance(sys.exc_info()[1], ConnectionResetError):
                report(request, client_address)

        self.server.handle_error = handle_error
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # --- scripting --------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        code: int | None = None,
        message: str = "",
        *,
        delay=0.0,
        times: int = 1,
        path_contains: str = "",
    ):
        """The next `times` matching requests get this Twilio error answer."""
        body = None
        if code is not None or message:
            body = error_body(code or status, message or f"Error {code or status}", status)
        for _ in range(times):
            self.planned.append(Planned(status, body, delay, path_contains))

    def fail_every(self, n: int, status: int = 429, code: int | None = 20429):
        """From now on, every `n`th POST to Messages.json gets this error answer."""
        self.every = (n, status, code)

    def delay_next(self, seconds: float, *, path_contains: str = ""):
        """The next matching request is answered normally, but only after `seconds`."""
        self.planned.append(Planned(0, None, seconds, path_contains))

    def hold_next(self, *, path_contains: str = "") -> Hold:
        """The next matching request waits until the returned Hold is released."""
        hold = Hold()
        self.planned.append(Planned(0, None, 0.0, path_contains, hold))
        return hold

    def add_number(
        self, number: str, *, sid=None, friendly_name="", voice=True, sms=True, mms=False
    ):
        record = {
            "sid": sid or "PN" + uuid.uuid4().hex,
            "account_sid": self.account_sid,
            "phone_number": number,
            "friendly_name": friendly_name or number,
            "capabilities": {"voice": voice, "sms": sms, "mms": mms, "fax": False},
            "voice_url": "",
            "voice_method": "POST",
            "voice_fallback_url": "",
            "sms_url": "",
            "sms_method": "POST",
            "sms_fallback_url": "",
            "status_callback": "",
        }
        record["uri"] = f"{API}/IncomingPhoneNumbers/{record['sid']}.json"
        self.numbers.append(record)
        return record

    def add_caller_id(self, number: str, *, friendly_name=""):
        sid = "PN" + uuid.uuid4().hex
        self.caller_ids.append(
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "phone_number": number,
                "friendly_name": friendly_name or number,
                "uri": f"{API}/OutgoingCallerIds/{sid}.json",
            }
        )

    def add_recording(self, sid: str | None = None, *, seconds: float = 1.0) -> str:
        """A real (silent-ish) 8 kHz mono WAV at Recordings/<sid>.wav; returns its API URL
        without extension, as Twilio posts RecordingUrl."""
        sid = sid or "RE" + uuid.uuid4().hex
        self.recordings[sid] = make_wav(seconds)
        return f"{self.url}{API}/Recordings/{sid}"

    def requests_to(self, suffix: str) -> list[Received]:
        return [r for r in self.received if r.path.endswith(suffix)]

    # --- serving ---------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler):
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        received = Received(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query),
            form=parse_qs(raw, keep_blank_values=True),
            auth=_basic_auth(handler.headers.get("Authorization", "")),
            headers=dict(handler.headers),
            at=time.time(),
        )
        with self._lock:
            self.received.append(received)
            plan = next((p for p in self.planned if p.path_contains in parts.path), None)
            if plan is not None:
                self.planned.remove(plan)
            elif self.every and parts.path.endswith("/Messages.json"):
                n, status, code = self.every
                if len(self.requests_to("/Messages.json")) % n == 0:
                    plan = Planned(status, error_body(code or status, "Too Many Requests", status))
        if plan is not None and plan.delay:
            time.sleep(plan.delay)
        if plan is not None and plan.hold is not None:
            plan.hold.arrived.set()
            plan.hold.released.wait(plan.hold.timeout)
        if plan is not None and plan.status:
            status, body = plan.status, plan.body
        elif received.auth != (self.account_sid, self.auth_token):
            status, body = 401, error_body(20003, "Authenticate", 401)
        else:
            media = self._recording_media(received, handler.headers.get("Range", ""))
            if media is not None:
                return self._send(handler, *media)
            status, body = self._route(received)
        payload = json.dumps(body).encode() if body is not None else b""
        received.answered = status
        self._send(handler, status, payload, {"Content-Type": "application/json"})

    def _send(self, handler, status: int, payload: bytes, headers: dict):
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass

    def _recording_media(self, r: Received, range_header: str):
        """GET Recordings/RE....wav: (status, bytes, headers), honouring one byte range."""
        match = re.fullmatch(rf"{API}/Recordings/(RE[0-9a-f]{{32}})\.wav", r.path)
        if r.method != "GET" or match is None:
            return None
        audio = self.recordings.get(match.group(1))
        if audio is None:
            return (
                404,
                json.dumps(error_body(20404, "Recording not found", 404)).encode(),
                {"Content-Type": "application/json"},
            )
        headers = {"Content-Type": "audio/x-wav", "Accept-Ranges": "bytes"}
        wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", range_header.strip())
        if not wanted or wanted.groups() == ("", ""):
            return 200, audio, headers
        first, last = wanted.groups()
        size = len(audio)
        if first == "":  # the last N bytes
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        if start >= size or start > end:
            return 416, b"", {**headers, "Content-Range": f"bytes */{size}"}
        return (
            206,
            audio[start : end + 1],
            {**headers, "Content-Range": f"bytes {start}-{end}/{size}"},
        )

    def _route(self, r: Received) -> tuple[int, dict]:
        if not r.path.startswith(API + "/"):
            return 404, error_body(20404, f"The requested resource {r.path} was not found", 404)
        resource = r.path[len(API) + 1 :]
        if r.method == "POST" and resource == "Messages.json":
            return 201, self._message(r)
        if r.method == "POST" and resource == "Calls.json":
            return 201, self._call(r)
        if r.method == "GET" and resource == "IncomingPhoneNumbers.json":
            return 200, self._page(r, "incoming_phone_numbers", self.numbers)
        if r.method == "GET" and resource == "OutgoingCallerIds.json":
            return 200, self._page(r, "outgoing_caller_ids", self.caller_ids)
        if r.method == "DELETE" and resource.startswith("Recordings/"):
            sid = resource.removeprefix("Recordings/").removesuffix(".json")
            if self.recordings.pop(sid, None) is None:
                return 404, error_body(20404, f"The requested resource {r.path} was not found", 404)
            return 204, None
        if r.method == "POST" and resource.startswith("IncomingPhoneNumbers/"):
            sid = resource.removeprefix("IncomingPhoneNumbers/").removesuffix(".json")
            number = next((n for n in self.numbers if n["sid"] == sid), None)
            if number is None:
                return 404, error_body(20404, f"The requested resource {r.path} was not found", 404)
            for name, values in r.form.items():
                key = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
                number[key] = values[0]
            return 200, number
        return 404, error_body(20404, f"The requested resource {r.path} was not found", 404)

    def _message(self, r: Received) -> dict:
        sid = "SM" + uuid.uuid4().hex
        media = r.form.get("MediaUrl", [])
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": r.field("To"),
            "from": r.field("From"),
            "body": r.field("Body") or "",
            "status": "queued",
            "num_segments": "1",
            "num_media": str(len(media)),
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "error_code": None,
            "error_message": None,
            "date_created": "Mon, 23 Nov 2026 09:00:00 +0000",
            "date_updated": "Mon, 23 Nov 2026 09:00:00 +0000",
            "date_sent": None,
            "uri": f"{API}/Messages/{sid}.json",
            "subresource_uris": {"media": f"{API}/Messages/{sid}/Media.json"},
        }

    def _call(self, r: Received) -> dict:
        sid = "CA" + uuid.uuid4().hex
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": r.field("To"),
            "from": r.field("From"),
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "duration": None,
            "date_created": "Mon, 23 Nov 2026 09:00:00 +0000",
            "uri": f"{API}/Calls/{sid}.json",
        }

    def _page(self, r: Received, key: str, records: list[dict]) -> dict:
        page = int((r.query.get("Page") or ["0"])[0])
        size = self.page_size
        chunk = records[page * size : (page + 1) * size]
        more = (page + 1) * size < len(records)
        base = r.path
        return {
            key: chunk,
            "page": page,
            "page_size": size,
            "start": page * size,
            "end": page * size + len(chunk) - 1,
            "uri": f"{base}?PageSize={size}&Page={page}",
            "first_page_uri": f"{base}?PageSize={size}&Page=0",
            "next_page_uri": f"{base}?PageSize={size}&Page={page + 1}" if more else None,
            "previous_page_uri": f"{base}?PageSize={size}&Page={page - 1}" if page else None,
        }


def make_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A small real WAV (16-bit mono PCM, a quiet square wave), made with `wave`."""
    frames = int(seconds * rate)
    samples = b"".join(
        (2000 if (i // 20) % 2 else -2000).to_bytes(2, "little", signed=True) for i in range(frames)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples)
    return buffer.getvalue()


def error_body(code: int, message: str, status: int) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _basic_auth(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password
