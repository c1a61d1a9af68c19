"""Periodic jobs, loaded by `flask --app wsgi jobs cron` into RQ's cron scheduler."""

from rq import cron

from jobs.compliance import remind_expiring_documents
from jobs.maintenance import (
    prune_held_actions,
    prune_outbox,
    prune_sent_emails,
    prune_throttle_events,
    sweep_orphan_files,
)
from jobs.onboarding import send_review_digests
from jobs.waivers import remind_unsigned_waivers

cron.register(prune_outbox, queue_name="default", cron="17 3 * * *")
cron.register(prune_sent_emails, queue_name="default", cron="27 3 * * *")
cron.register(prune_throttle_events, queue_name="default", cron="7 * * * *")
cron.register(prune_held_actions, queue_name="default", cron="37 * * * *")
# 13:00 UTC on Mondays and Thursdays: 8 or 9 in the morning in New York, 5 or 6 in Los Angeles.
cron.register(send_review_digests, queue_name="default", cron="0 13 * * 1,4")
cron.register(sweep_orphan_files, queue_name="default", cron="47 3 * * *")
# 15:00 UTC daily: the morning in every US time zone.
cron.register(remind_expiring_documents, queue_name="default", cron="0 15 * * *")
# Hourly: an unconditional waiver is reminded of 20 hours after payment, then daily.
cron.register(remind_unsigned_waivers, queue_name="default", cron="23 * * * *")
