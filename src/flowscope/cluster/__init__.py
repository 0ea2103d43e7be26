"""Running on one PostgreSQL server or on a Citus cluster: engine detection and distribution."""
