"""Data quality over time: the incidents the marts' anomaly rules raise, and sending the new
ones through notifiers once per channel (alerts). The raw gate itself is the expectations/
package, run by the pipeline; dbt's tests guard the models. It may import the stages below it
(config, registry, raw, extract, transform), nothing above them.
"""
