"""Raw storage: the warehouse's raw schema and its one write path (warehouse), the keyed
hashing of member ids and the sketches stored of them (sketches), and the files that enter it
without an API: page histories (history_import) and residents per territory (population), each
checked row by row. The extractors write the records and sketches it defines, so it sits below
extraction. It may import gospulse.config and gospulse.registry, nothing above them.
"""
