"""The dev kit: a simulated Slack, sandbox providers and the demo, for trying and testing the bot on one machine.

Beside the runtime packages, never below them: devkit imports bot, and bot, handlers and
storage never import devkit (tests/test_layers.py). Its `resetbot demo` and `resetbot
sandbox` reach the CLI as plug-ins (devkit/commands.py, the `resetbot.commands` entry
points in pyproject.toml).
"""
