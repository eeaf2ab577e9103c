"""Real servers for the fault tests (tests/test_faults.py): no tests here, only helpers.

- `Gunicorn`: the project's WSGI app (config.wsgi:application) under gunicorn with
  config/gunicorn.conf.py and the production settings, on a free port of 127.0.0.1, in its
  own process group; stderr (the JSON log lines) goes to a file `log_records()` reads.
  `start()` waits for /healthz; `stop()` always ends the whole group (SIGTERM, then SIGKILL).
- `TcpProxy`: a threaded TCP proxy on 127.0.0.1 in front of PostgreSQL (or nothing) that is
  switched between "up" (forwards), "down" (resets every connection, current and new) and
  "blackhole" (accepts, never answers). `TcpProxy(None, mode="blackhole")` is a server
  that never answers (a hung Redis).
- `SignedClient`: POSTs form bodies signed the way Twilio signs them (twilio's
  `RequestValidator.compute_signature`), with urllib and a timeout; values may be bytes
  (sent percent-encoded as they are, e.g. invalid UTF-8). Returns a `Response` (status,
  headers, body, elapsed seconds; status None when no HTTP answer came).
- `AdminSession` and `form_fields()`: the admin as a browser uses it (log in, read a change
  form with its CSRF token, post it back).
- Databases: `postgres_available()`, `create_postgres_database()` (from a template that was
  migrated and seeded once), `copy_sqlite()`, `manage()` (manage.py in a subprocess with
  the server's environment), `count_rows()` / `fetch_rows()` (psycopg2 or sqlite3 directly).

Only 127.0.0.1 is ever targeted. Every process and socket started here is ended by
`stop()` / `close()`, which the fixtures in tests/test_faults.py call as finalizers.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import selectors
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, quote_from_bytes, urljoin, urlsplit

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
AUTH_TOKEN = "faults-auth-token"
ACCOUNT_SID = "AC" + "f" * 32
POSTGRES = ("127.0.0.1", 5432)
POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEMO_NUMBER = "+15005550006"


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


# --- environment and manage.py ---------------------------------------------------------------


def server_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """What the production settings require, for a server on 127.0.0.1:`port`; nothing else
    is inherited but PATH, HOME and LANG (no DATABASE_URL or CACHE_URL of the test run)."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": LOOPBACK,
            "DATABASE_URL": database_url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TELEPHONY_PUBLIC_URL": f"http://{LOOPBACK}:{port}",
            "TELEPHONY_BACKEND": "locmem",  # nothing leaves the machine
            "SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback
            "SECURE_COOKIES": "false",
            "SECURE_HSTS_SECONDS": "0",
            "LOG_FORMAT": "json",
            "GUNICORN_BIND": f"{LOOPBACK}:{port}",
            "WEB_CONCURRENCY": "1",
            # A test's server never needs long to stop; a worker stuck in a black-holed
            # connect would otherwise hold the stop for gunicorn's default 20 s.
            "GUNICORN_GRACEFUL_TIMEOUT": "5",
            "PYTHONUNBUFFERED": "1",
            # The demo's Hours step decides as in the tests (config/settings/test.py).
            "TELEPHONY_NOW": "2026-12-23T10:00:00-08:00",
        }
    )
    env.update(extra)
    return env


def manage(env: dict, *args: str, timeout: float = 120, check: bool = True):
    """`python manage.py ARGS` in a subprocess with `env`; CompletedProcess (text)."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode:
        raise AssertionError(
            f"manage.py {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def migrate_and_seed(database_url: str) -> None:
    """migrate + seed_demo (the demo number +15005550006 and its main menu), in subprocesses."""
    env = server_env(database_url, 0)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed_demo")


# --- databases -------------------------------------------------------------------------------


def postgres_available() -> bool:
    try:
        with socket.create_connection(POSTGRES, timeout=1):
            return True
    except OSError:
        return False


def _postgres_admin():
    import psycopg2

    connection = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=3)
    connection.autocommit = True
    return connection


def _checked_name(name: str) -> str:
    if not name.startswith("sb_faults") or not name.replace("_", "").isalnum():
        raise ValueError(f"refusing database name {name!r}: fault tests use sb_faults*")
    return name


def drop_postgres_database(name: str) -> None:
    connection = _postgres_admin()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{_checked_name(name)}" WITH (FORCE)')
    finally:
        connection.close()


def create_postgres_database(name: str, template: str | None = None) -> str:
    """A fresh database `name` (sb_faults*), a copy of `template` if given; its URL."""
    connection = _postgres_admin()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{_checked_name(name)}" WITH (FORCE)')
            copy = f' TEMPLATE "{_checked_name(template)}"' if template else ""
            cursor.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        connection.close()
    return postgres_url(name)


def postgres_url(name: str, port: int = POSTGRES[1]) -> str:
    return f"postgres://postgres@{LOOPBACK}:{port}/{name}"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def copy_sqlite(template: Path, path: Path) -> str:
    """A copy of the SQLite database file `template` at `path`; its URL."""
    for suffix in ("", "-wal", "-shm", "-journal", "-flows-changed"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)
    return sqlite_url(path)


def _connect(database_url: str):
    """A DB-API connection and its placeholder style, for `database_url`."""
    parts = urlsplit(database_url)
    if parts.scheme == "sqlite":
        return sqlite3.connect(parts.path[1:] if parts.path.startswith("//") else parts.path)
    import psycopg2

    return psycopg2.connect(database_url, connect_timeout=3)


def fetch_rows(database_url: str, sql: str, params: tuple | list = ()) -> list[tuple]:
    """Rows of `sql` (placeholders written %s, as psycopg2 wants; turned into ? for SQLite),
    read directly from the database, not through Django."""
    connection = _connect(database_url)
    try:
        if isinstance(connection, sqlite3.Connection):
            sql = sql.replace("%s", "?")
        cursor = connection.cursor()
        cursor.execute(sql, tuple(params))
        rows = cursor.fetchall()
        cursor.close()
        return rows
    finally:
        connection.close()


def count_rows(database_url: str, table: str, **where) -> int:
    """COUNT(*) of `table` WHERE column = value AND ... (columns named as keywords)."""
    if not table.replace("_", "").isalnum() or not all(
        column.replace("_", "").isalnum() for column in where
    ):
        raise ValueError("plain identifiers only")
    sql = f"SELECT COUNT(*) FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(f"{column} = %s" for column in where)
    return fetch_rows(database_url, sql, list(where.values()))[0][0]


def count_sids(database_url: str, table: str, sids) -> int:
    """How many rows of `table` have one of these SIDs (distinct SIDs: the column is unique)."""
    sids = list(sids)
    found = 0
    for start in range(0, len(sids), 500):
        chunk = sids[start : start + 500]
        placeholders = ", ".join(["%s"] * len(chunk))
        sql = f"SELECT COUNT(*) FROM {table} WHERE sid IN ({placeholders})"
        found += fetch_rows(database_url, sql, chunk)[0][0]
    return found


def wait_for(predicate, *, timeout: float, interval: float = 0.1):
    """Call `predicate` until it returns something truthy or `timeout` s have passed; its
    last value. Never loops unbounded."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --- gunicorn --------------------------------------------------------------------------------


class Gunicorn:
    """gunicorn with config/gunicorn.conf.py and `env` (see `server_env`), in its own process
    group, stderr into `log_path`."""

    def __init__(self, env: dict, log_path: Path, *, workers: int = 1):
        self.env = dict(env, WEB_CONCURRENCY=str(workers))
        self.log_path = Path(log_path)
        self.base = env["TELEPHONY_PUBLIC_URL"]
        self.process: subprocess.Popen | None = None
        self.before_stop: list = []  # callables run first by stop() (e.g. cut a black hole)

    @property
    def port(self) -> int:
        return urlsplit(self.base).port

    def start(self, timeout: float = 30) -> Gunicorn:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        stdout = self.log_path.with_suffix(".stdout").open("wb")
        stderr = self.log_path.open("wb")
        try:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.conf.py"],
                cwd=ROOT,
                env=self.env,
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() ends all of it
            )
        finally:
            stdout.close()
            stderr.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start:\n{self.log_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1) as answer:
                    if answer.read() == b"ok":
                        return self
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /healthz in {timeout} s:\n{self.log_text()}")

    def workers(self) -> list[int]:
        """The worker processes: the master's children, from /proc (no psutil)."""
        if self.process is None:
            return []
        pid = self.process.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            pass
        try:  # a kernel without /proc/.../children
            found = subprocess.run(
                ["pgrep", "-P", str(pid)], capture_output=True, text=True, timeout=5
            )
        except (OSError, subprocess.TimeoutExpired):
            return []
        return [int(p) for p in found.stdout.split()]

    def stop(self, grace: float = 8) -> None:
        """SIGTERM to the whole group (workers write what they queued), SIGKILL after `grace`."""
        for hook in self.before_stop:
            try:
                hook()
            except Exception:  # noqa: BLE001 - stopping must go on
                pass
        self.before_stop = []
        if self.process is None or self.process.returncode is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        # The master may be gone while a worker lingers: end the group in any case.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_records(self) -> list[dict]:
        """The JSON log lines written so far (gunicorn's own plain lines are skipped)."""
        return parse_log_records(self.log_text())


def parse_log_records(text: str) -> list[dict]:
    records = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


# --- a switchable TCP proxy ------------------------------------------------------------------

UP, DOWN, BLACKHOLE = "up", "down", "blackhole"


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0): the peer learns at once, as from a dead server."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


@dataclass(eq=False)
class _Link:
    client: socket.socket
    upstream: socket.socket | None
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        _reset(self.client)
        if self.upstream is not None:
            _reset(self.upstream)


class TcpProxy:
    """127.0.0.1:<port> -> `target`, switchable with `set_mode()`:

    - "up": forwards both ways;
    - "down": resets every current connection and each new one as soon as it is accepted;
    - "blackhole": accepts, and forwards nothing either way (current connections too): the
      peer waits for an answer that never comes.

    `TcpProxy(None, mode="blackhole")` has no target: a server that never answers.
    """

    def __init__(self, target: tuple[str, int] | None = POSTGRES, *, mode: str = UP):
        if target is not None and target[0] != LOOPBACK:
            raise ValueError("the proxy only forwards to 127.0.0.1")
        self.target = target
        self.mode = mode
        self.links: set[_Link] = set()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(128)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="tcp-proxy")
        thread.start()
        with self.lock:
            self.threads = [t for t in self.threads if t.is_alive()] + [thread]

    def set_mode(self, mode: str) -> None:
        if mode not in (UP, DOWN, BLACKHOLE):
            raise ValueError(mode)
        with self.lock:
            self.mode = mode
            links = list(self.links)
        if mode == DOWN:
            for link in links:
                link.close()
        elif mode == UP:
            # Connections accepted in a black hole never reached the target: end them.
            for link in links:
                if link.upstream is None:
                    link.close()

    def up(self) -> None:
        self.set_mode(UP)

    def down(self) -> None:
        self.set_mode(DOWN)

    def blackhole(self) -> None:
        self.set_mode(BLACKHOLE)

    def _accept_loop(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            client.settimeout(None)
            mode = self.mode
            if mode == DOWN or self.stopped.is_set():
                _reset(client)
                continue
            upstream = None
            if mode == UP and self.target is not None:
                try:
                    upstream = socket.create_connection(self.target, timeout=2)
                    upstream.settimeout(None)
                except OSError:
                    _reset(client)
                    continue
            link = _Link(client, upstream)
            with self.lock:
                self.links.add(link)
            self._spawn(self._pump, link)

    def _pump(self, link: _Link) -> None:
        peers = {}
        selector = selectors.DefaultSelector()
        try:
            selector.register(link.client, selectors.EVENT_READ)
            peers[link.client] = link.upstream
            if link.upstream is not None:
                selector.register(link.upstream, selectors.EVENT_READ)
                peers[link.upstream] = link.client
            while not link.closed and not self.stopped.is_set():
                if self.mode != UP or link.upstream is None:
                    time.sleep(0.05)  # a black hole: read nothing, answer nothing
                    continue
                for key, _ in selector.select(timeout=0.1):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    peers[key.fileobj].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            selector.close()
            link.close()
            with self.lock:
                self.links.discard(link)

    def close(self) -> None:
        """Stop accepting, reset every connection, join the threads (bounded)."""
        self.stopped.set()
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            links, threads = list(self.links), list(self.threads)
        for link in links:
            link.close()
        for thread in threads:
            thread.join(timeout=2)


# --- Twilio's side: signed requests ----------------------------------------------------------


@dataclass
class Response:
    status: int | None  # None: no HTTP answer at all (see `error`)
    headers: dict[str, str]
    body: bytes
    elapsed: float
    error: str = ""

    def twiml(self) -> ET.Element:
        """The body parsed as strict XML; its root must be <Response>."""
        root = ET.fromstring(self.body)
        if root.tag != "Response":
            raise ValueError(f"not TwiML: root <{root.tag}>")
        return root

    def verbs(self) -> list[str]:
        return [child.tag for child in self.twiml()]

    def __str__(self) -> str:
        what = self.status if self.status is not None else f"no answer ({self.error})"
        return f"{what} after {self.elapsed:.2f} s: {self.body[:300]!r}"


def encode_form(params: dict[str, str | bytes]) -> str:
    """A form body; bytes values are percent-encoded exactly as they are (bad bytes too)."""
    parts = []
    for name, value in params.items():
        raw = value if isinstance(value, bytes) else value.encode("utf-8")
        parts.append(f"{quote(name, safe='')}={quote_from_bytes(raw, safe='')}")
    return "&".join(parts)


class SignedClient:
    """Posts to the server the way Twilio does: a form body and X-Twilio-Signature.

    The signature is twilio's `compute_signature(url, params)` over the fields as a form
    decoder reads them back (`parse_qsl`: UTF-8, undecodable bytes replaced, as Django's
    QueryDict does), so a body with bad bytes is still correctly signed."""

    def __init__(self, base: str, token: str = AUTH_TOKEN, *, timeout: float = 5.0):
        self.base = base.rstrip("/")
        self.validator = RequestValidator(token)
        self.timeout = timeout

    def url(self, path_or_url: str) -> str:
        return urljoin(self.base + "/", path_or_url)

    def post(
        self, path: str, params: dict[str, str | bytes], *, timeout: float | None = None
    ) -> Response:
        url = self.url(path)
        if urlsplit(url).hostname != LOOPBACK:
            raise ValueError(f"only {LOOPBACK} is ever targeted, not {url}")
        body = encode_form(params)
        decoded = dict(parse_qsl(body, keep_blank_values=True))
        signature = self.validator.compute_signature(url, decoded)
        request = urllib.request.Request(
            url,
            data=body.encode("ascii"),
            headers={
                "X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "TwilioProxy/1.1",
            },
            method="POST",
        )
        return _send(request, timeout or self.timeout)

    def get(self, path: str, *, timeout: float | None = None) -> Response:
        return _send(urllib.request.Request(self.url(path)), timeout or self.timeout)


def _send(request, timeout: float) -> Response:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = answer.read()
            return Response(answer.status, dict(answer.headers), body, time.monotonic() - started)
    except urllib.error.HTTPError as error:
        body = error.read()
        return Response(error.code, dict(error.headers), body, time.monotonic() - started)
    except (OSError, http.client.HTTPException) as error:  # reset, refused, timed out
        return Response(None, {}, b"", time.monotonic() - started, error=repr(error))


# --- the admin, as a browser would use it ----------------------------------------------------


class AdminSession:
    """A cookie-keeping urllib session for the Django admin: log in, read a form, post it."""

    def __init__(self, base: str, *, timeout: float = 5.0):
        import http.cookiejar

        self.base = base.rstrip("/")
        self.timeout = timeout
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.cookies if c.name == name), None)

    def _open(self, request) -> Response:
        started = time.monotonic()
        try:
            with self.opener.open(request, timeout=self.timeout) as answer:
                return Response(
                    answer.status, dict(answer.headers), answer.read(), time.monotonic() - started
                )
        except urllib.error.HTTPError as error:
            return Response(
                error.code, dict(error.headers), error.read(), time.monotonic() - started
            )
        except (OSError, http.client.HTTPException) as error:
            return Response(None, {}, b"", time.monotonic() - started, error=repr(error))

    def get(self, path: str) -> Response:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, fields: list[tuple[str, str]]) -> Response:
        body = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in fields)
        request = urllib.request.Request(
            self.base + path,
            data=body.encode("ascii"),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": self.base + path,
            },
            method="POST",
        )
        return self._open(request)

    def login(self, username: str, password: str) -> Response:
        page = self.get("/admin/login/?next=/admin/")
        fields = form_fields(page.body.decode(), form_id="login-form")
        fields = [(k, v) for k, v in fields if k not in ("username", "password")]
        fields += [("username", username), ("password", password)]
        return self.post("/admin/login/?next=/admin/", fields)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand 30x answers back as they are: the tests assert where they point."""

    def redirect_request(self, *args, **kwargs):
        return None


def form_fields(html: str, *, form_id: str | None = None) -> list[tuple[str, str]]:
    """The fields a browser would submit for the form (`form_id`, else the first form with a
    method of POST): inputs (checked boxes only), selected options, textareas; not buttons."""
    from html.parser import HTMLParser

    class Parser(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.depth = 0  # inside the form we want
            self.fields: list[tuple[str, str]] = []
            self.select: str | None = None
            self.select_first: str | None = None
            self.select_chosen = False
            self.textarea: str | None = None
            self.text: list[str] = []
            self.done = False

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "form" and not self.done and not self.depth:
                wanted = (
                    a.get("id") == form_id if form_id else a.get("method", "").lower() == "post"
                )
                if wanted:
                    self.depth = 1
                return
            if not self.depth:
                return
            if tag == "form":
                self.depth += 1
            elif tag == "input" and a.get("name"):
                kind = a.get("type", "text").lower()
                if kind in ("submit", "button", "image", "reset", "file"):
                    return
                if kind in ("checkbox", "radio") and "checked" not in a:
                    return
                self.fields.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
            elif tag == "select" and a.get("name"):
                self.select, self.select_first, self.select_chosen = a["name"], None, False
                self.select_multiple = "multiple" in a
            elif tag == "option" and self.select is not None:
                value = a.get("value")
                if value is None:
                    value = ""
                if self.select_first is None:
                    self.select_first = value
                if "selected" in a:
                    self.fields.append((self.select, value))
                    self.select_chosen = True
            elif tag == "textarea" and a.get("name"):
                self.textarea, self.text = a["name"], []

        def handle_endtag(self, tag):
            if not self.depth:
                return
            if tag == "form":
                self.depth -= 1
                if not self.depth:
                    self.done = True
            elif tag == "select" and self.select is not None:
                if not self.select_chosen and not self.select_multiple:
                    self.fields.append((self.select, self.select_first or ""))
                self.select = None
            elif tag == "textarea" and self.textarea is not None:
                text = "".join(self.text)
                self.fields.append((self.textarea, text[1:] if text.startswith("\n") else text))
                self.textarea = None

        def handle_data(self, data):
            if self.textarea is not None:
                self.text.append(data)

    parser = Parser()
    parser.feed(html)
    return parser.fields
