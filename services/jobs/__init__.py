"""Background jobs, apart from the board's HTTP: SLA timers and the sweep, the notifier
(MQTT and webhooks from the outbox), and the weekly bulletin's draft and seal.

They run inside each board worker (SUNLIGHT_BOARD_SCHEDULER, the default) or alone
(`sunlight jobs`, services.jobs.service.run); either way the database keeps every job to
one effect (services.jobs.scheduler).
"""
