"""The usage ledger: one SQLite row per request (db.py), prices (prices.py), what `ccm usage`
and the admin page read (query.py), the status line (statusline.py), Prometheus metrics
(metrics.py) and OpenTelemetry spans (tracing.py), fed by one recorder (recorder.py).

Nothing heavy is imported here: `ccm statusline` imports ccm.ledger.statusline and must stay on
the standard library.
"""
