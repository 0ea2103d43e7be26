"""Alert rules on flow KPIs and FQL queries, their analyzers, and the alerts they open."""
