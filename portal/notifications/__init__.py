"""Notifications: email written to an outbox in the request's transaction, sent by a job."""
