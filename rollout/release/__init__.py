"""The model CD loop (``cifar10-release``): train on a new span, canary, analyze, promote or
roll back; driven by hand, by retrain requests, or by a scheduler."""
