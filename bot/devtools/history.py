"""A long history written by PostgreSQL itself (generate_series), for scale tests and bench.

Realistic shares: resets mostly sent, about 1% refused, 1% not sent, 0.1% unknown
over a year, a few hundred requesters; sales mostly sold, some refused, some
waiting for approval. Only the newest few thousand failures are still open.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from storage.db import Database

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)

FILL_RESETS = """
INSERT INTO reset_requests (
    id, org_id, enterprise_id, team_id, user_id, location_id, vendor, identifier_kind, identity,
    identifier_masked, identifier_hash, member_filter, status, override_limit,
    outcome_kind, outcome_message, created_at, confirmed_at, finished_at, updated_at,
    resolved_at
)
SELECT
    md5(g::text), 'T0001', '', 'T0001', 'U' || (g % 500),
    (ARRAY['downtown','sparkle','bistro'])[1 + g % 3],
    (ARRAY['clubready','registrar','paytronix'])[1 + g % 3], 'email', NULL,
    'm•••@example.com', md5('m' || g), 0,
    CASE WHEN g % 997 = 0 THEN 'unknown' WHEN g % 101 = 0 THEN 'refused'
         WHEN g % 103 = 0 THEN 'failed' ELSE 'sent' END,
    false, 'succeeded', 'done',
    :now - (g * interval '31 seconds'), :now - (g * interval '31 seconds'),
    :now - (g * interval '31 seconds') + interval '1 second',
    :now - (g * interval '31 seconds'),
    CASE WHEN g % 997 = 0 OR g > 5000 THEN :now ELSE NULL END
FROM generate_series(1, :rows) AS g
"""

FILL_SALES = """
INSERT INTO sales (
    id, org_id, enterprise_id, team_id, user_id, location_id, package_id, installment_plan_id,
    package_name, amount, start_date, member_masked, payments, fingerprint,
    required_approvals, status, created_at, submitted_at, expires_at, finished_at, updated_at
)
SELECT
    'sale-' || g, 'T0001', '', 'T0001', 'U' || (g % 500), 'downtown', 2001, 3001, 'Monthly Basic',
    '49.00', DATE '2026-11-23', 'M. L. · m•••@example.com', '[]', md5(g::text), 1,
    CASE WHEN g % 50 = 0 THEN 'pending_approval' WHEN g % 40 = 0 THEN 'refused' ELSE 'sold' END,
    :now - (g * interval '300 seconds'), :now - (g * interval '300 seconds'),
    :now + interval '1 day',
    CASE WHEN g % 50 = 0 THEN NULL ELSE :now - (g * interval '300 seconds') END,
    :now - (g * interval '300 seconds')
FROM generate_series(1, :sales) AS g
"""


def fill_history(db: Database, *, resets: int, sales: int, now: datetime = NOW) -> None:
    """Insert ``resets`` resets and ``sales`` sales ending at ``now``, then ANALYZE."""
    with db.engine.begin() as connection:
        connection.execute(text(FILL_RESETS), {"now": now, "rows": resets})
        connection.execute(text(FILL_SALES), {"now": now, "sales": sales})
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
