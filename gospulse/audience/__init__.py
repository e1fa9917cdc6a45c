"""Deduplicated audience: member lists folded into sketches, never stored as IDs. The daily
step that reads the lists due and stores their sketches (collect), overlaps between pages
(overlap), the regions' union sketches merged into national counts (federal) and rows for the
dbt Python models (tables); the hashing and the sketch format are raw storage's
(gospulse.raw.sketches). It may import gospulse.config, gospulse.registry, gospulse.raw and the
extractors, nothing above them.
"""
