"""One WSGI application, two Django handlers: Twilio's webhooks skip the admin's middleware.

Twilio's webhooks are machine-to-machine POSTs: no cookies, sessions, users, messages,
CSRF tokens (they are signed instead), static files or frames. With a single Django
handler every webhook still runs the admin's middleware, which costs more than the
webhook's own lookup of its flow. So `application()` puts two handlers behind one WSGI
callable: paths under TELEPHONY_WEBHOOK_PREFIX go to a handler built with
TELEPHONY_WEBHOOK_MIDDLEWARE (by default only the webhook log line: see settings.base),
everything else to the usual one. Both share the settings, URLconf, views, signals and
database connections; only the middleware differs, and the webhook handler remembers
where each of its few paths resolves to.
"""

from functools import lru_cache

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import setting_changed
from django.core.wsgi import get_wsgi_application
from django.urls import ResolverMatch, get_resolver


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

    def resolve_request(self, request):
        # Resolving a path walks the URLconf's patterns and builds a ResolverMatch: as much
        # work as a Gather's whole answer. Webhooks come to a handful of paths (one per
        # flow step at most), the same ones all day, so each is resolved once per process.
        if hasattr(request, "urlconf"):  # a middleware chose another URLconf: as Django does
            return super().resolve_request(request)
        match = resolve_path(settings.ROOT_URLCONF, request.path_info)
        request.resolver_match = match
        return match


@lru_cache(maxsize=1024)
def resolve_path(urlconf: str, path: str) -> ResolverMatch:
    """`resolve(path)` for this URLconf, kept per path. Paths that resolve to nothing raise
    Resolver404 each time, uncached; paths that do (any slug matches a flow's pattern)
    are kept up to maxsize, the least recently used leaving first. A ResolverMatch is only
    read once made (views get copies of its kwargs)."""
    return get_resolver(urlconf).resolve(path)


def _urlconf_changed(*, setting, **kwargs):
    if setting == "ROOT_URLCONF":  # tests that swap URLconfs; Django clears its own too
        resolve_path.cache_clear()


setting_changed.connect(_urlconf_changed)


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
