"""Settings for bench/run.py's server: production's, plus the peer views' URLconf.

Only ROOT_URLCONF differs, so the webhooks run with production's middleware, logging and
caches; bench/peer.py adds /twilio/bench/peer/ and /twilio/bench/trivial/ after the site's
own URLs. A settings module of its own keeps those paths out of production entirely.
"""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.peer"
