"""Periodic jobs, loaded by `flask --app wsgi jobs cron` into RQ's cron scheduler."""

from rq import cron

from jobs.maintenance import prune_outbox

cron.register(prune_outbox, queue_name="default", cron="17 3 * * *")
