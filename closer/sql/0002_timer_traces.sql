-- The trace of the decision that set each timer (hex ids from its events' metadata, NULL when it was not
-- traced): the command published when it falls due continues that conversation's trace.
ALTER TABLE closer_timers ADD COLUMN trace_id text, ADD COLUMN span_id text;
