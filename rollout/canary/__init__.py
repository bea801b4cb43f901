"""The canary rollout: labels in the model config, weighted routing, the router and its
metrics, window-by-window analysis and the decisions it drives."""
