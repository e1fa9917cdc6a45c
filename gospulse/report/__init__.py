"""The analyst's report: the monthly press-release figures for a region and period (TOP pages by
growth, region, municipality and sector totals against the previous period, flagship compliance,
data-quality incidents), written as self-contained HTML, XLSX and PNG charts in Russian number
formatting. It reads the published marts through gospulse.serving.ranking and the serving layer;
numbers and charts are pure helpers that import nothing else from gospulse.
"""
