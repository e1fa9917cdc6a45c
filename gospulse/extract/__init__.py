"""Extraction as the pipeline drives it: which extractor reads which network with which secrets
and token (networks, token_lists), and the daily steps around the extractors/ packages: plan,
fetch into staging, the raw gate, one load into raw storage, the run records, the staging sweep
(pipeline). It may import gospulse.config, gospulse.registry and gospulse.raw, the extractors
and the expectations, nothing above them.
"""
