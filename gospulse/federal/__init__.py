"""The federal roll-up: pull regions' export bundles, verify and load them, build federal
marts (national and district growth, region rankings, national unique audience)."""
