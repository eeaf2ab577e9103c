"""One WSGI application, two Django handlers: Twilio's webhooks skip the admin's middleware.

Twilio's webhooks are machine-to-machine POSTs: no cookies, sessions, users, messages,
CSRF tokens (they are signed instead), static files or frames. With a single Django
handler every webhook still runs the admin's middleware, which costs more than the
webhook's own lookup of its flow. So `build_application()` puts two handlers behind one
WSGI callable: paths under TELEPHONY_WEBHOOK_PREFIX go to a handler built with
TELEPHONY_WEBHOOK_MIDDLEWARE (by default only the webhook log line: see settings.base),
everything else to the usual one. Both share the settings, URLconf, views, signals and
database connections; only the middleware differs.

So MIDDLEWARE does not reach the webhooks: a middleware they need goes into
TELEPHONY_WEBHOOK_MIDDLEWARE too (system check telephony.W007 names any that is not).
"""

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application


class WebhookHandler(WSGIHandler):
    """Django's WSGI handler, loading TELEPHONY_WEBHOOK_MIDDLEWARE instead of MIDDLEWARE."""

    def load_middleware(self, is_async=False):
        # BaseHandler reads settings.MIDDLEWARE and takes no list of its own: swap it in
        # for the duration of the load (once, at start-up, before any request).
        everything = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.TELEPHONY_WEBHOOK_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = everything


class WebhookDispatcher:
    """Routes by path prefix; the URLconf still decides everything after that."""

    def __init__(self, site, webhooks, prefix: str):
        self.site, self.webhooks, self.prefix = site, webhooks, prefix

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(self.prefix):
            return self.webhooks(environ, start_response)
        return self.site(environ, start_response)


def build_application():
    """The project's WSGI application (config/wsgi.py)."""
    site = get_wsgi_application()  # sets Django up
    prefix = settings.TELEPHONY_WEBHOOK_PREFIX
    if not prefix:
        return site
    return WebhookDispatcher(site, WebhookHandler(), prefix)
