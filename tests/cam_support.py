"""Trained runs for the localization tests: a run and its random-init twin, their box scores."""

from __future__ import annotations

import dataclasses
import shutil

import torch


def _random_twin(store, record):
    """A copy of the run whose checkpoint holds a randomly initialised model of the same architecture."""
    from bench.method import MethodSpec, get_method
    from bench.train.checkpoint import read_manifest, save_weights

    twin_id = record.run_id[:-4] + "rand"
    shutil.copytree(store.run_dir(record.run_id), store.run_dir(twin_id))
    name = f"{record.method.name}-random-init"
    twin = dataclasses.replace(record, run_id=twin_id, method=dataclasses.replace(record.method, display_name=name))
    path = store.artifact(twin, "checkpoint")
    manifest = read_manifest(path)
    torch.manual_seed(0)
    method = get_method(record.method.name, plugins=record.invocation["plugins"])
    method = method.with_spec(MethodSpec.from_dict(record.method.spec))
    save_weights(method.build_model(manifest["stage"], pretrained=False), path, manifest)
    store.write(twin)
    return twin


def _trained_and_random(data, results, **training):
    """(store, trained record, random-init twin) of a run trained with `training`."""
    from bench.records import RunStore
    from bench.train import engine
    from bench.train.options import RunOptions

    record = engine.run(RunOptions(data=str(data), results=str(results), quiet=True, **training))
    store = RunStore(results)
    return store, record, _random_twin(store, record)


def _localized(runs):
    from bench.cam import localize, open_run, run_dataset

    store, record, twin = runs
    index = run_dataset(record)
    return tuple(localize(open_run(store, r.run_id, device="cpu"), index) for r in (record, twin))


def _summary(trained, rand) -> str:
    return " | ".join(
        f"{c}: IoBB>0.1 {trained.classes[c].iobb[0.1]:.2f} vs {rand.classes[c].iobb[0.1]:.2f},"
        f" IoU>0.1 {trained.classes[c].iou[0.1]:.2f} vs {rand.classes[c].iou[0.1]:.2f},"
        f" pointing {trained.classes[c].pointing:.2f} vs {rand.classes[c].pointing:.2f}"
        for c in trained.classes
    )


def _pooled(loc, classes, get) -> float:
    n = sum(loc.classes[c].n_boxes for c in classes)
    return sum(get(loc.classes[c]) * loc.classes[c].n_boxes for c in classes) / n
