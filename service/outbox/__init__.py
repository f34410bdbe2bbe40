"""Messages to other systems, sent from an outbox: a notice's SMS through a pluggable notifier
(:mod:`service.outbox.notice`), and case events pushed to the case system as signed webhooks
(:mod:`service.outbox.events`).

A message is a row of ``outbound_messages`` written in the same transaction as the case change that
causes it (no change without its message, no message without its change); the worker
(:mod:`service.outbox.worker`, a thread of ``nce serve``) sends it with retries and backoff and an
``Idempotency-Key``. What is configured (gateway, targets, secrets) is :mod:`service.outbox.config`.
"""
