"""resetbot: approve-then-reset hosting passwords from Slack."""
