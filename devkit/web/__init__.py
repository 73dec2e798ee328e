"""`resetbot demo --web`: the demo's world without the scripted story, shown as Slack shows it, in a browser.

server.py serves the page (static/), each person's screen (screens.py, Block Kit as HTML in
blocks.py and mrkdwn.py, everything escaped) and sends what people do through the simulated
Slack's person-level operations to the real app; command.py runs it until SIGINT/SIGTERM.
"""
