"""Per-provider retention: old events and what was derived from them are removed in batches."""
