"""Slack notices, delivered from the outbox (:mod:`bot.workflows.outbox`) by the notifier.

The workflows record *what* people must be told, as plain data, in the transaction
of the change it reports; this package tells them: :mod:`bot.notices.render` turns a
notice into one Slack call with the ``bot/slack`` builders (rendering the subject as
it is when delivered), :mod:`bot.notices.slack` makes the call and classifies every
failure, :mod:`bot.notices.notifier` claims, retries, expires and keeps one message's
notices in order. Nothing here is called from a listener.

Adding a kind of notice: see :mod:`bot.workflows.outbox` (three steps).
"""
