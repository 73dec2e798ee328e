"""Alerts: one insider-risk alert to the approvals channel when an engineer's last hour looks like abuse.

Two signals (bot/policy.py: risk_alerts): more refused requests for a provider than its hourly cap
(`requests_per_hour`; repeats folded into one audit row within a minute still count: context.py:
audit_refusal), or requests for more than 10 distinct accounts. Checked after every submit that
stored or refused a request, off the caller's thread (intake.py hands it to the background runner,
so the modal's ack never waits for it). Each alert is claimed in the database first (storage/
repository.py: claim_risk_alert, at most one per engineer and kind an hour, one claimer across
replicas) and audited as "risk_alert" in the same unit of work; then it is posted. A post Slack
refuses is not retried: the audit trail still has it.
"""

from __future__ import annotations

from datetime import timedelta

from bot import policy
from bot.domain import ProviderName
from bot.policy import RiskAlert
from bot.workflow.context import Context
from bot.workflow.policies import effective_policy
from storage import repository as repo
from storage.db import transaction

RISK_WINDOW = timedelta(hours=1)


def watch_soon(ctx: Context, engineer_id: str, provider: ProviderName) -> None:
    """Check the engineer's last hour on the background runner (never on a listener's ack path)."""
    ctx.background.run(check, ctx, engineer_id, provider)


def check(ctx: Context, engineer_id: str, provider: ProviderName) -> list[RiskAlert]:
    """Post every alert the engineer's last hour calls for and nobody posted within the hour; those posted."""
    with transaction(ctx.sessions) as session:
        now = ctx.db_now(session)  # the window, like every other, is on the database's clock (context.py)
        since = now - RISK_WINDOW
        rules = effective_policy(session, ctx, provider)
        found = policy.risk_alerts(
            engineer_id, refusals=repo.refusals_since(session, engineer_id, provider, since),
            requests_per_hour=rules.requests_per_hour,
            accounts=repo.distinct_accounts_requested_since(session, engineer_id, since), provider=provider)
        claimed = [alert for alert in found
                   if repo.claim_risk_alert(session, engineer_id, alert.kind.value, now=now, since=since)]
        for alert in claimed:
            repo.add_audit(session, at=now, action="risk_alert", provider=alert.provider,
                           detail={"engineer": engineer_id, "kind": alert.kind.value, "count": alert.count,
                                   "threshold": alert.threshold, "window": "1h"})
    for alert in claimed:
        ctx.notifier.post_alert(alert)
    return claimed
