"""``python -m demos.release``: ``cifar10-release`` as a self-contained demo on one machine.

    new data span -> pipeline (train, evaluate, bless, push) -> canary at the first weight
    -> analysis window after window (step / promote / roll back) -> done

Without ``--server``/``--router`` it starts the model server and the canary router
in-process (free ports) and, unless ``--no-load``, a load generator sending real CIFAR-10
test images through the router (demos/loadgen.py). The first release (nothing stable yet)
is deployed directly. A rollout left in progress by a crash is resumed.

``--inject-faulty constant|error`` skips training and pushes a broken model as if it had
passed offline evaluation, to show the automatic rollback.

Every other flag is ``cifar10-release``'s (rollout/release/cli.py). Anything after ``--``
goes to the pipeline runner. Exit codes: 0 promoted / deployed / nothing to do, 3 rolled
back, 1 pipeline or serving failure, 2 bad input data or arguments.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

from demos.synthetic_models import BEHAVIOURS  # noqa: E402
from rollout.canary.manager import RolloutManager  # noqa: E402
from rollout.release import cli, pipeline_run  # noqa: E402
from rollout.release.outcome import say  # noqa: E402
from rollout.release.tools import ReleaseTools  # noqa: E402

if TYPE_CHECKING:
    from demos.loadgen import LoadGenerator

FAULTY_BEHAVIOURS = tuple(b for b in BEHAVIOURS if b != "brightness")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inject-faulty",
        choices=FAULTY_BEHAVIOURS,
        help="skip training; push a broken model as if it were blessed",
    )
    parser.add_argument("--no-load", action="store_true", help="no built-in load generator")
    parser.add_argument("--load-rate", type=float, default=20.0, help="requests per second")


def push_faulty(manager: RolloutManager, behaviour: str) -> int:
    """Publish a broken model the way the Pusher would (atomically, next free version), for
    the served model's dataset (its latest version's description; CIFAR-10 if none)."""
    from demos.synthetic_models import write_model
    from models.dataset import CIFAR10, from_model
    from pipeline.components.atomic_pusher import publish_atomically

    versions = manager.versions_on_disk()
    description = from_model(manager.model_dir / str(versions[-1])) if versions else CIFAR10
    with tempfile.TemporaryDirectory() as tmp:
        model = write_model(Path(tmp) / "model", behaviour, description)
        _, version = publish_atomically(str(model), str(manager.model_dir), int(time.time()))
    say(
        f"[inject-faulty] pushed a '{behaviour}' model as version {version}, as if it had "
        "passed offline evaluation"
    )
    return version


def faulty_candidate(args: argparse.Namespace, manager: RolloutManager) -> int | None:
    """The faulty model's version when ``--inject-faulty`` asks for one, else None (train)."""
    return push_faulty(manager, args.inject_faulty) if args.inject_faulty else None


def start_load(stack: ExitStack, router_url: str, args: argparse.Namespace) -> LoadGenerator | None:
    """Real test images of the data root (CIFAR-10's test batch, or an image folder's test
    split at the served model's input shape) through the router at ``--load-rate``, to the
    release's model (none with ``--no-load``: then the clients are yours)."""
    if args.no_load:
        return None
    from demos.loadgen import LoadGenerator
    from models.dataset import CIFAR10, from_model
    from rollout.drift.reference import labelled_test_split

    model = pipeline_run.release_model_name(args, [])
    served = RolloutManager(args.output_root, model_name=model)
    versions = served.versions_on_disk()
    description = from_model(served.model_dir / str(versions[-1])) if versions else CIFAR10
    root = pipeline_run.data_root(args)
    images, labels = labelled_test_split(root, description)
    load = LoadGenerator(router_url, images, labels, rate_per_second=args.load_rate, model=model)
    stack.callback(load.stop)
    say(f"load generator: {args.load_rate:.0f} req/s of {root}'s test images through the router")
    load.start()
    return load


DEMO_TOOLS = ReleaseTools(
    add_arguments=add_arguments, candidate=faulty_candidate, start_traffic=start_load
)


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, tools=DEMO_TOOLS, prog="python -m demos.release", doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
