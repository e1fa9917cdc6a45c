"""The regions' page registries: each region's table of pages validated row by row (pages), and
the CSV and XLSX files as offices save them (office_files), which the history and population
imports read too. It may import gospulse.config and nothing else from gospulse.
"""
