"""The analyst's report: the monthly press-release figures for a region and period (TOP pages by
growth, region, municipality and sector totals against the previous period, flagship compliance,
data-quality incidents), written as self-contained HTML, XLSX and PNG charts in Russian number
formatting. It reads the published marts through gospulse.serving (the ranking among it) and
may import the packages below serving, never the API beside it; numbers and charts are pure
helpers that import nothing else from gospulse.
"""
