"""The closer: timers computed from the events (``deadlines``), kept in an index (``timers``), published as
commands to the orchestrator when due (``worker``). It never decides and never appends events."""
