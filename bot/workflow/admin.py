"""Admin: roles, the MyOwnFreeHost account directory and the audit trail, as the operator CLI uses them.

It needs only the records (bot/workflow/context.py: BaseContext), so `resetbot roles`,
`accounts` and `audit export`/`verify` (bot/cli.py) build no provider, sealer or Slack client.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime

from bot.domain import AuditChainCheck, AuditRecord, Role, RoleGrant
from bot.sealing import Sealer
from bot.workflow.context import BaseContext
from storage import repository as repo
from storage.db import transaction


class Admin:
    def __init__(self, ctx: BaseContext) -> None:
        self.ctx = ctx

    def grant(self, user_id: str, role: Role, provider: str | None, actor: str | None) -> bool:
        now = self.ctx.clock()
        with transaction(self.ctx.sessions) as session:
            added = repo.add_grant(session, user_id=user_id, role=role, provider=provider, granted_by=actor, now=now)
            if added:
                repo.add_audit(session, at=now, action="role_granted", actor_id=actor, provider=provider,
                               detail={"user": user_id, "role": role.value})
        return added

    def revoke(self, user_id: str, role: Role, provider: str | None, actor: str | None) -> bool:
        now = self.ctx.clock()
        with transaction(self.ctx.sessions) as session:
            removed = repo.remove_grant(session, user_id=user_id, role=role, provider=provider)
            if removed:
                repo.add_audit(session, at=now, action="role_revoked", actor_id=actor, provider=provider,
                               detail={"user": user_id, "role": role.value})
        return removed

    def grants(self) -> list[RoleGrant]:
        with transaction(self.ctx.sessions) as session:
            return repo.all_grants(session)

    def configured_admins(self) -> list[str]:
        """The admins from RESETBOT_ADMINS, who hold the role without a stored grant."""
        return sorted(self.ctx.admins)

    def import_directory(self, rows: list[tuple[str, str, str | None]], actor: str | None = None) -> None:
        now = self.ctx.clock()
        with transaction(self.ctx.sessions) as session:
            for key, vpanel, domain in rows:
                repo.put_directory_entry(session, account_key=key, vpanel_username=vpanel, domain=domain)
            repo.add_audit(session, at=now, action="directory_imported", actor_id=actor, provider="mofh",
                           detail={"rows": len(rows)})

    def directory(self) -> list[tuple[str, str, str | None]]:
        with transaction(self.ctx.sessions) as session:
            return repo.directory_entries(session)

    def audit_trail(self, since: datetime | None = None) -> Iterator[AuditRecord]:
        """The whole trail (at or after `since`), oldest first."""
        with transaction(self.ctx.sessions) as session:
            yield from repo.audit_events(session, since)

    def audit_after(self, seq: int, *, since: datetime | None = None, limit: int = 500) -> list[AuditRecord]:
        """Up to `limit` events recorded after the one at `seq` in the chain (0: from the first), in the order
        recorded, leaving out those before `since`: what `audit export --follow` prints next."""
        with transaction(self.ctx.sessions) as session:
            return repo.audit_events_after(session, seq, since=since, limit=limit)

    def verify_audit_trail(self) -> AuditChainCheck:
        """Walk the trail's hash chain: how many events are intact, and the first that was changed, removed or
        inserted out of order."""
        with transaction(self.ctx.sessions) as session:
            return repo.check_audit_chain(session)

    def sealed_by_key(self, sealer: Sealer) -> Counter[int | None]:
        """How many stored sealed values each configured key sealed (0 = the first; None = no key here, or a
        value bound to a Reveal button before bound values carried the key's fingerprint). Nothing is decrypted."""
        with transaction(self.ctx.sessions) as session:
            return Counter(sealer.key_index(token) for token in repo.sealed_tokens(session))
