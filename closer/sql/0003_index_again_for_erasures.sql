-- The index now also holds erasure jobs (kinds "forget-..."): the one a customer confirmed on WhatsApp and
-- the one retention (PRIVACY_RETENTION_DAYS) asks for. Streams the closer indexed before would only get
-- theirs when written to again, so the closer indexes the whole store once more from the start: every
-- row it recomputes keeps its command id and its published mark (closer/timers.py), so nothing is
-- published twice. Applied once by eventstore.migrations (namespace "closer").
DELETE FROM checkpoints WHERE consumer = 'closer';
