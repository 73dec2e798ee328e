"""A simulated Slack workspace that a real Bolt app talks to over loopback.

The simulator has three faces:

* a fake **Web API** (``POST /api/<method>``) plus **response_url** endpoints
  (``POST /response/<token>``), served by one stdlib ``ThreadingHTTPServer`` on
  ``127.0.0.1:0``; point the app's ``WebClient(base_url=sim.api_url)`` at it (HTTPS with
  ``SlackSim(web_api_tls=context)``, tls.py; ``connections_accepted`` and ``drop_connections``
  for clients that keep their connections);
* **delivery to the app** the way Slack does it: over an open Socket Mode connection (a
  ``websockets`` server that ``apps.connections.open`` hands out), or, when no socket is
  open, as signed HTTP POSTs to ``sim.http_url``;
* the **person side**: people type slash commands, fill modals by label text, press
  buttons by their visible text and open the Home tab. Nothing here knows the bot's
  block ids or action ids.

Payload shapes follow ``tests/fixtures/slack``. Every change to the workspace is
appended to ``sim.transcript`` as a readable line (the demo prints these).

One module per concern, composed by ``SlackSim`` (sim.py): workspace.py (people, channels,
messages, the transcript), web_api.py (the HTTP server and the chat/users methods),
views.py (modals and the Home tab), response_urls.py, socket_mode.py (the WebSocket
server), delivery.py (socket or signed HTTP), person.py (what people do), and the
plain helpers records.py, blocks.py, rendering.py (the text a person sees) and tls.py.

Usage::

    with SlackSim() as sim:
        sim.add_user("U0ENGINEER1", "sam", channels=["C0HELPDESK"])
        app = App(client=WebClient(token="xoxb-sim", base_url=sim.api_url), signing_secret=sim.signing_secret)
        handler = SocketModeHandler(app, "xapp-sim")   # app.client already points at the sim
        handler.connect()
        sim.wait_for_connections(1)
        sim.slash_command("sam", "/reset-password", "mofh webq7k2m")
        ...
        handler.close()
"""

from devkit.slack.records import Ack, Ephemeral, Message, OpenView, RecordedCall
from devkit.slack.rendering import render_text
from devkit.slack.sim import SlackSim

__all__ = [
    "Ack",
    "Ephemeral",
    "Message",
    "OpenView",
    "RecordedCall",
    "SlackSim",
    "render_text",
]
