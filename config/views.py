"""Project-level views that belong to no app."""

from django.http import HttpResponse


def healthz(request):
    """For load balancers and uptime checks: the process answers. Touches no database."""
    return HttpResponse("ok", content_type="text/plain")
