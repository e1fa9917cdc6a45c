"""Great Expectations suites that gate each raw batch (issue 5 brings the first ones)."""
