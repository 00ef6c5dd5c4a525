-- Who is told of a ticket change is decided in Python now (services/tickets/notify.py),
-- and the ticket service (services/store/tickets.py) queues the outbox rows in the
-- transaction that appends the history entry. The trigger that made that decision
-- (0007) goes; the outbox and its delivery stay as they are.
DROP TRIGGER ticket_history_deliveries ON ticket_history;
DROP FUNCTION queue_deliveries();

COMMENT ON TABLE deliveries IS
    'The notification outbox: one row per message to send (a history entry, a recipient,'
    ' a channel), queued by the ticket service with the entry it belongs to'
    ' (services/tickets/notify.py decides who); workers lease, send and record the outcome.';
