"""Model continuous delivery: canary rollout, live monitoring, automatic promote/rollback."""
