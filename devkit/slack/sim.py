"""`SlackSim`: one simulated workspace, composed of the people, Web API, views, Socket Mode and delivery parts.

Each part is a mixin in its own module and keeps its own state on the one `SlackSim`
object; they share the workspace lock (workspace.py), so a change and its record appear
together to whoever waits for either.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable

from devkit.slack.delivery import Delivery
from devkit.slack.person import Person
from devkit.slack.response_urls import ResponseUrls
from devkit.slack.socket_mode import SocketMode
from devkit.slack.views import Views
from devkit.slack.web_api import DEFAULT_SCOPES, WebApi
from devkit.slack.workspace import Workspace

SLACK_ACK_TIMEOUT = 3.0


class SlackSim(Person, Delivery, SocketMode, ResponseUrls, Views, WebApi, Workspace):
    """A simulated Slack workspace on loopback. See the devkit.slack docstring."""

    def __init__(
        self,
        *,
        signing_secret: str = "sim-signing-secret",
        bot_token: str | None = None,
        app_token: str | None = None,
        team_id: str = "T0SUPPORT1",
        team_domain: str = "acme-support",
        app_id: str = "A0RESETBOT",
        bot_user_id: str = "U0RESETBOT",
        bot_id: str = "B0RESETBOT",
        bot_name: str = "resetbot",
        clock: Callable[[], float] | None = None,
        ack_timeout: float = SLACK_ACK_TIMEOUT,
        ack_wait: float | None = None,
        socket_mode: bool = True,
        socket_ping_interval: float = 0.25,
        default_channels: bool = True,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        web_api_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.signing_secret = signing_secret
        self.bot_token = bot_token  # None: any xoxb-/xoxp- token is accepted
        self.app_token = app_token  # None: any xapp- token is accepted
        self.scopes = set(scopes)  # the bot token's scopes (web_api.py: METHOD_SCOPES); change it at will
        self.team_id = team_id
        self.team_domain = team_domain
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.clock: Callable[[], float] = clock or time.time
        self.ack_timeout = ack_timeout
        # how long a delivery waits for the app's answer; Slack itself gives up after 3 s.
        # None: ack_timeout + 1 s over Socket Mode, 10 s over HTTP (Bolt answers after 3 s anyway)
        self.ack_wait = ack_wait
        self.http_url: str | None = None  # the app's /slack/events URL for HTTP mode
        self.transcript_listener: Callable[[str], None] | None = None
        self._stopped = False

        self._init_workspace(default_channels=default_channels)
        self._init_views()
        self._init_response_urls()
        self._init_web_api()
        self.web_api_tls = web_api_tls  # HTTPS for the Web API and response_urls (devkit/slack/tls.py)
        self._init_socket_mode()
        self._start_web_api()
        if socket_mode:
            self._start_socket_mode(socket_ping_interval)

    def __enter__(self) -> SlackSim:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Close socket connections, stop both servers. Idempotent.

        Close SocketModeHandlers first, or they try to reconnect to a sim that is gone."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_socket_mode()
        self._stop_web_api()
        self._release_pending()
