"""Deduplicated audience: member lists folded into sketches, never stored as IDs."""
