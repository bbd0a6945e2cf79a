"""`bench eval`: a checkpoint trained elsewhere scored on a split's test list by a method's model,
with the test phase's scorer (and its test-time augmentation), recorded as an external run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.external.score import check_name
from bench.external.target import UNKNOWN, declared_fold, open_target, overlap
from bench.records import Coverage, ExternalInfo, MethodInfo, RunRecord, WeightsFile, environment_info


@dataclass(frozen=True)
class EvalOptions:
    method: str
    weights: Path
    split: str
    results: Path
    name: str | None = None  # default: METHOD@FILE
    fold: int = 0
    data: Path | None = None  # None: the demo dataset
    preset: str | None = None  # whose last stage gives the test image size; default as `bench run`'s
    image_size: int | None = None  # the test image size, instead of the preset's last stage's
    tta: str = "none"
    limit: int | None = None  # `bench run --limit`'s subset of the test list
    description: str | None = None
    url: str | None = None
    trained_on: str = UNKNOWN
    device: str = "auto"
    batch_size: int | None = None  # default: twice the method's largest training batch
    workers: int = 0
    no_cache: bool = False
    plugins: tuple[str, ...] = field(default_factory=tuple)
    split_seed: int = 0
    val_fraction: float = 0.1
    val_predictions: Path | None = None  # validation predictions to choose thresholds on
    quiet: bool = False

    @property
    def model_name(self) -> str:
        return check_name(self.name or f"{self.method}@{Path(self.weights).name.split('.')[0]}")

    def invocation(self) -> dict:
        """What the record keeps of the command, to evaluate the checkpoint again."""
        keep = ("method", "split", "fold", "preset", "image_size", "tta", "limit", "trained_on", "split_seed")
        return {
            "command": "eval",
            "weights": str(self.weights),
            "data": None if self.data is None else str(self.data),
            "name": self.model_name,
            "plugins": list(self.plugins),
            "val_predictions": None if self.val_predictions is None else str(self.val_predictions),
            **{k: getattr(self, k) for k in keep},
        }


def evaluate_weights(options: EvalOptions, *, notice: Callable[[str], None] = lambda message: None) -> RunRecord:
    """Score `options.weights` with the method's model; the complete external record. A file that
    cannot be read, or does not fit the model strictly, is refused before the run folder exists."""
    import dataclasses

    from bench.data.cache import prepare_cache
    from bench.external.runs import read_validation, record_external
    from bench.external.weights import load_weights
    from bench.method import get_method
    from bench.models import check_image_size
    from bench.predictions import file_sha256
    from bench.train.batches import open_source
    from bench.train.device import configure_backends, pick_device, place_model
    from bench.train.evaluate import TTA, Scorer
    from bench.train.options import default_preset
    from bench.train.plan import image_list

    name = options.model_name
    method = get_method(options.method, plugins=options.plugins)
    target = open_target(
        options.split,
        fold=options.fold,
        data=options.data,
        split_seed=options.split_seed,
        val_fraction=options.val_fraction,
        limit=options.limit,
        check_images=True,
        quiet=options.quiet,
    )
    declared = declared_fold(options.trained_on, target.index, scored=target)
    validation = read_validation(options.val_predictions, target)
    method = method.resolve(default_preset(options.preset, target.index.kind))
    last = len(method.spec.stages) - 1
    size = check_image_size(method.spec.backbone, options.image_size or method.spec.stages[last].image_size)
    tta = TTA(options.tta, size)
    images = image_list(target.index, target.ids)  # BenchError for test images missing on disk
    device = pick_device(options.device)
    model = method.build_model(last, pretrained=False)
    loaded = load_weights(model, Path(options.weights))
    mapping = "; ".join(loaded.mapping) if loaded.mapping else "none needed"
    notice(f"{loaded.tensors} tensors loaded strictly from {options.weights} (key mapping: {mapping})")
    configure_backends(device)
    model = place_model(model, device)
    cache = (
        None
        if options.no_cache
        else prepare_cache(
            target.index, tta.input_size, ids=target.ids, workers=options.workers or None, progress=not options.quiet
        )
    )
    source = open_source(
        images.paths, tta.input_size, label="test images", quiet=options.quiet, cache=cache, ids=images.ids
    )
    scorer = Scorer.for_method(method, device, workers=options.workers)
    if options.batch_size is not None:
        scorer = dataclasses.replace(scorer, batch_size=options.batch_size)
    scores = scorer.score(model, source, images.labels, tta=tta).scores
    external = ExternalInfo(
        source="weights",
        description=options.description,
        url=options.url,
        trained_on=options.trained_on.strip(),
        overlap=overlap(declared, target),
        coverage=Coverage(scored=len(target.ids), test=len(target.ids)),
        scores_in_unit_interval=True,  # sigmoid scores
        weights=WeightsFile(
            name=Path(options.weights).name,
            sha256=file_sha256(Path(options.weights)),
            key_mapping=loaded.mapping,
            tensors=loaded.tensors,
        ),
    )
    spec = dataclasses.replace(method.spec, stages=(dataclasses.replace(method.spec.stages[last], image_size=size),))
    return record_external(
        options.results,
        target=target,
        scores=scores,
        external=external,
        method=MethodInfo.from_spec(spec.to_dict(), display_name=name),
        environment=environment_info(),
        invocation=options.invocation(),
        device=str(device),
        tta=tta.mode,
        validation=validation,
    )
