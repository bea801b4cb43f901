"""A label moves to its new version before the version it leaves is unloaded (TF Serving's
order), so a promotion (``stable`` 1 -> 2, version 1 dropped) never answers a request by
label with NOT_FOUND. Found by bench/soak.py: two requests in a promotion failed before."""

from __future__ import annotations

from rollout import settings as rollout_settings
from serving import defaults as serving_defaults
from serving.model_config import ModelEntry
from serving.version_policy import SPECIFIC, VersionPolicy
from tests.serving.test_config_reload import MODEL, write_config

STABLE, CANARY = rollout_settings.STABLE_LABEL, rollout_settings.CANARY_LABEL


def test_a_promotion_moves_the_label_before_unloading_the_old_version(
    tiny_base, tmp_path, start_server
):
    base = tiny_base(1, 2)
    config = tmp_path / "models" / serving_defaults.MODEL_CONFIG_FILENAME
    write_config(config, base, {STABLE: 1, CANARY: 2})
    server = start_server(model_config_file=config)
    manager = server.manager
    seen_at_unload: list[dict[str, int]] = []
    retire = manager._retire

    def watched_retire(name: str, version: int) -> None:
        seen_at_unload.append(dict(manager._labels[name]))
        retire(name, version)

    manager._retire = watched_retire
    promoted = VersionPolicy(SPECIFIC, versions=frozenset({2}))
    manager.apply_config({MODEL: ModelEntry(MODEL, base, promoted, {STABLE: 2})})
    assert seen_at_unload and seen_at_unload[0][STABLE] == 2  # moved before v1 went
    assert manager.labels(MODEL) == {STABLE: 2}  # and the canary label is gone after
    servable = manager.acquire(MODEL, label=STABLE)
    servable.release()
    assert servable.version == 2
