"""What gospulse hands to its readers: a read-only copy of the marts, Postgres for BI, export
bundles for federal aggregators and a read-only HTTP API."""
