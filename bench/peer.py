"""The benchmark's peer views and the URLconf that serves them beside the real site.

bench/run.py measures the voice webhook against what a Django developer would write by
hand with twilio's public API, on the same server and the same stack:

- `peer`: checks X-Twilio-Signature with `RequestValidator(token).validate()` and builds
  the demo's main menu (telephony/fixtures/demo.json, flow "main-menu") with
  `VoiceResponse` on every request, reading no database. The bar: the voice webhook,
  which reads its flow from stored data, answers at least as many requests a second.
- `trivial`: a fixed string, the floor of any view under /twilio/.

Both live under /twilio/bench/, so config/wsgi.py routes them through the webhooks' light
handler and TELEPHONY_WEBHOOK_MIDDLEWARE exactly as it routes /twilio/voice/. This module
is the ROOT_URLCONF of bench/settings.py only: production's URLconf never has these paths.
"""

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from config.urls import urlpatterns as site_urlpatterns

# The release a freshly seeded bench database serves (the demo, published as release 1)
# and the Gather's position in the main menu (after the greeting and the Hours step, which
# renders nothing while the office is open: bench/run.py freezes the clock there). The peer
# reads no database, so it cannot look them up; the digits cost nothing either way.
DEMO_RELEASE = 1
DEMO_GATHER_STEP = 3


def _sized(response: HttpResponse) -> HttpResponse:
    # As the webhooks do (the light stack has no CommonMiddleware): without a length,
    # gunicorn sends the answer chunked, one more write, and the ratio would measure that.
    response.headers["Content-Length"] = str(len(response.content))
    return response


def main_menu(base: str) -> VoiceResponse:
    """The demo's main menu, verb by verb, as the flow's steps and options describe it."""
    response = VoiceResponse()
    response.say("Thank you for calling the Switchboard demo.")
    gather = response.gather(
        action=f"{base}/twilio/releases/{DEMO_RELEASE}/flows/main-menu/steps/{DEMO_GATHER_STEP}/gather/",
        method="POST",
        action_on_empty_result=True,  # no input comes back too: the menu counts its tries
        input="dtmf speech",
        num_digits=1,
        timeout=5,
        hints="sales, voicemail, address",  # the options' phrases, for speech recognition
    )
    gather.say(
        "For sales, press 1. To leave a voicemail, press 2. "
        "To get our address by text message, press 3."
    )
    return response


@csrf_exempt  # signed by Twilio instead; the light stack has no CSRF middleware anyway
@require_POST
def peer(request):
    base = settings.TELEPHONY_PUBLIC_URL.rstrip("/")
    # The URL Twilio signed, rebuilt as the real webhooks do: public base + path and query.
    url = base + request.get_full_path()
    # META, not request.headers (which builds a dict of every header): a lean peer, not a
    # straw man.
    signature = request.META.get("HTTP_X_TWILIO_SIGNATURE", "")
    if not RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, request.POST, signature):
        return _sized(
            HttpResponseForbidden("Invalid X-Twilio-Signature.", content_type="text/plain")
        )
    return _sized(HttpResponse(str(main_menu(base)), content_type="text/xml; charset=utf-8"))


@require_GET
def trivial(request):
    return _sized(HttpResponse("ok", content_type="text/plain"))


# The site's own patterns first and unchanged, so /healthz and the webhooks resolve as in
# production; the bench paths come after them (the webhooks' include does not match them).
urlpatterns = [
    *site_urlpatterns,
    path("twilio/bench/peer/", peer, name="bench-peer"),
    path("twilio/bench/trivial/", trivial, name="bench-trivial"),
]
