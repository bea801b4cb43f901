"""Demo and load tooling used by scripts/demo_*.sh and the tests: a load generator, tiny
synthetic models for fault injection, the drift-retrain demo helpers and the self-contained
release demo. Not library code: an entry-point layer like bench/."""
