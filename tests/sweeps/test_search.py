"""The asynchronous search without training: its space, enqueued trials, the pruning
callback, handing out trials from the journal file, and opening that file again."""

from __future__ import annotations

import io
import json
import wsgiref.util
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from transformers import TrainerControl, TrainerState, TrainingArguments

from bioqwen.sweeps import SweepError
from bioqwen.sweeps import search as search_mod
from bioqwen.sweeps.search import JOURNAL_FILE, Spec, create_study, distribution, enqueued, space
from bioqwen.sweeps.search_pruning import PruneWatch, PruningCallback, callbacks, pruning

optuna.logging.set_verbosity(optuna.logging.WARNING)


def spec(**changes: object) -> Spec:
    fields: dict = {
        "study": "s",
        "objective": "eval/loss",
        "direction": "minimize",
        "trials": 3,
        "params": [
            "stage.learning_rate=tag(log, interval(1e-5, 1e-3))",
            "method.lora.r=choice(4, 8)",
        ],
        "train": ["model=tiny"],
        "sampler": {"_target_": "optuna.samplers.RandomSampler", "seed": 0},
        "pruner": None,
        "enqueue": ["stage.learning_rate=1e-4 method.lora.r=8"],
    }
    return Spec(**{**fields, **changes})


def test_the_hydra_sweep_syntax_becomes_optuna_distributions() -> None:
    assert distribution("method.lora.r=choice(8, 16)") == (
        "method.lora.r", CategoricalDistribution([8, 16]))  # fmt: skip
    assert distribution("stage.learning_rate=tag(log, interval(1e-5, 5e-4))") == (
        "stage.learning_rate", FloatDistribution(1e-5, 5e-4, log=True))  # fmt: skip
    assert distribution("stage.warmup_ratio=interval(0.0, 0.2)")[1] == FloatDistribution(0, 0.2)
    assert distribution("method.lora.r=range(8, 40, 8)")[1] == IntDistribution(8, 32, step=8)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("stage.learning_rate=tag(log, interval(0, 1e-3))", "low"),
        ("stage.learning_rate=interval(1e-3, 1e-5)", "low"),
        ("stage.learning_rate=1e-4", "not a search dimension"),
        ("stage.learning_rate=choice(", "no viable alternative"),
    ],
)
def test_a_bad_search_dimension_is_named(entry: str, message: str) -> None:
    with pytest.raises(SweepError, match=rf"search.params entry '{entry[:10]}.*{message}"):
        distribution(entry)


def test_a_key_searched_twice_is_an_error() -> None:
    with pytest.raises(SweepError, match=r"method\.lora\.r appears twice"):
        space(["method.lora.r=choice(4, 8)", "method.lora.r=choice(16)"])


def test_enqueued_trials_must_lie_in_the_space() -> None:
    dims = space(spec().params)
    assert enqueued("stage.learning_rate=1e-4 method.lora.r=8", dims) == {
        "stage.learning_rate": 1e-4, "method.lora.r": 8}  # fmt: skip
    with pytest.raises(SweepError, match=r"method.lora.r=16: .16. not in \(4, 8\)"):
        enqueued("method.lora.r=16", dims)
    with pytest.raises(SweepError, match=r"seed is not in search\.params"):
        enqueued("seed=3", dims)


def evaluate(callback: PruningCallback, step: int, metrics: dict) -> TrainerControl:
    control, state = TrainerControl(), TrainerState()
    state.global_step = step
    callback.on_evaluate(
        TrainingArguments(output_dir="/tmp/unused"), state, control, metrics=metrics
    )
    return control


def test_the_callback_reports_eval_loss_and_stops_a_pruned_run() -> None:
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=5.0))
    trial = study.ask()
    with pruning(trial, "eval/loss") as watch:
        (callback,) = callbacks()
        assert not evaluate(callback, 2, {"eval_loss": 4.0}).should_training_stop
        assert not evaluate(callback, 2, {"eval_ner_loss": 9.0}).should_training_stop  # a task's
        assert evaluate(callback, 4, {"eval_loss": 6.0}).should_training_stop
        evaluate(callback, 4, {"eval_loss": 7.0})  # the job's final evaluation: not reported
    assert callbacks() == []  # outside a search: nothing added to the Trainer
    assert watch.pruned_at == (4, 6.0)
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {2: 4.0, 4: 6.0}


def test_the_callback_never_reports_a_step_twice() -> None:
    study = optuna.create_study()
    watch = PruneWatch(study.ask(), "eval_loss")
    callback = PruningCallback(watch)
    evaluate(callback, 3, {"eval_loss": 2.0})
    evaluate(callback, 3, {"eval_loss": 1.0})
    assert watch.trial.storage.get_trial(watch.trial._trial_id).intermediate_values == {3: 2.0}


def test_workers_share_the_journal_and_stop_at_the_trial_count(tmp_path: Path) -> None:
    plan = spec()
    plan.write(tmp_path)
    create_study(tmp_path, plan)
    first, second = (search_mod.load(tmp_path, plan, worker) for worker in (0, 1))
    a = search_mod.next_trial(first, plan, tmp_path)
    b = search_mod.next_trial(second, plan, tmp_path)
    c = search_mod.next_trial(first, plan, tmp_path)
    assert a.params == {"stage.learning_rate": 1e-4, "method.lora.r": 8}  # the enqueued one first
    assert b.params != a.params and c.params != b.params  # own seeds: different proposals
    assert search_mod.next_trial(second, plan, tmp_path) is None  # 3 handed out
    first.tell(a, 2.0)
    second.tell(b, state=optuna.trial.TrialState.PRUNED)
    first.tell(c, 1.5)
    assert Spec.read(tmp_path) == plan


def test_the_journal_file_opens_in_optuna_and_in_the_dashboard(tmp_path: Path) -> None:
    plan = spec(enqueue=[])
    study = create_study(tmp_path, plan)
    for value in (3.0, 2.0):
        trial = study.ask(space(plan.params))
        study.tell(trial, value)
    loaded = optuna.load_study(
        study_name="s", storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / JOURNAL_FILE))))  # fmt: skip
    assert loaded.best_value == 2.0 and len(loaded.trials) == 2
    from optuna_dashboard import wsgi

    app = wsgi(str(tmp_path / JOURNAL_FILE))  # the path `optuna-dashboard <file>` takes
    environ: dict = {"PATH_INFO": "/api/studies", "REQUEST_METHOD": "GET"}
    wsgiref.util.setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO()
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers, exc=None: status.append(s)))
    assert status == ["200 OK"]
    (listed,) = json.loads(body)["study_summaries"]
    assert listed["study_name"] == "s" and listed["directions"] == ["minimize"]
