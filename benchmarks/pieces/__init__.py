"""The benchmark pieces: functions run inside a configured Django process (a child of the runner,
or the smoke test's own test process)."""
