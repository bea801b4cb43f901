"""Custom TFX components the standard set lacks: an anomalies gate and an atomic pusher."""
