"""The Evaluator's baseline: the latest blessed model *other than the candidate*.

TFX's ``LatestBlessedModelStrategy`` returns the latest blessed model, whatever it is. After
a run pushes its model, an unchanged re-run reuses the cached Trainer output, so the
candidate *is* the latest blessed model: the stock strategy hands the Evaluator that same
model as its own baseline. The Evaluator's inputs then differ from the first run's (a
baseline where there was none), so TFX re-runs TFMA only to compare the model with itself,
a comparison that can never fail ("no worse than itself"). Leaving the candidate out keeps
every real comparison exactly as before (a new candidate still meets the latest blessed
model) and makes an unchanged re-run a cache hit from the first re-run on.
"""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.components.evaluator import constants as evaluator_constants
from tfx.dsl.components.common import resolver
from tfx.dsl.components.common.resolver import Resolver
from tfx.types import Channel, standard_artifacts

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
CANDIDATE_KEY = "candidate"
RESOLVER_ID = "latest_blessed_model_resolver"


class LatestBlessedOtherModelStrategy(resolver.ResolverStrategy):
    """Latest blessed ``model`` (by artifact id) that is not one of ``candidate``."""

    def resolve_artifacts(
        self, store: Any, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        candidates = list(input_dict.get(CANDIDATE_KEY, []))
        excluded = {a.id for a in candidates}
        blessings = {
            b.get_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY): b
            for b in input_dict.get(BLESSING_KEY, [])
            if b.get_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY) == 1
        }
        result: dict[str, list[types.Artifact]] = {
            MODEL_KEY: [],
            BLESSING_KEY: [],
            CANDIDATE_KEY: candidates,
        }
        for model in sorted(input_dict.get(MODEL_KEY, []), key=lambda a: a.id, reverse=True):
            if model.id in blessings and model.id not in excluded:
                result[MODEL_KEY] = [model]
                result[BLESSING_KEY] = [blessings[model.id]]
                break
        return result


def baseline_model_resolver(candidate: Channel) -> Resolver:
    """The resolver node: its ``outputs["model"]`` is the Evaluator's ``baseline_model``."""
    return Resolver(
        strategy_class=LatestBlessedOtherModelStrategy,
        **{
            MODEL_KEY: Channel(type=standard_artifacts.Model),
            BLESSING_KEY: Channel(type=standard_artifacts.ModelBlessing),
            CANDIDATE_KEY: candidate,
        },
    ).with_id(RESOLVER_ID)
