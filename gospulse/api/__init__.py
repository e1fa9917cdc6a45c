"""The read-only HTTP API over the published marts: tokens scoped to regions, JSON/CSV/Parquet."""
