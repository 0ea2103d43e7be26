"""Business data generator: simulated flows per event provider, backfill, schedules, templates."""
