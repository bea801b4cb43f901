"""Input drift: per-image signals and model outputs against a version's reference, the
monitor that scores sampled requests, and the alerts that can file a retrain request."""
