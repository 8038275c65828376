"""bioqwen's SLURM launcher for Hydra (`hydra/launcher=slurm` and `slurm_cpu`).

Hydra instantiates launchers only from the `hydra_plugins` namespace package, so the class
lives here; what it adds to hydra-submitit-launcher's SlurmLauncher is in
bioqwen.sweeps.launcher.
"""

# No `from __future__ import annotations`: Hydra executes plugin modules outside sys.modules,
# where dataclasses cannot resolve string annotations.
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides, run_job, setup_globals
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
from omegaconf import OmegaConf, open_dict


@dataclass
class BioqwenSlurmQueueConf(SlurmQueueConf):
    """The plugin's SLURM settings plus how long the submitting command waits."""

    _target_: str = "hydra_plugins.bioqwen_launcher.BioqwenSlurmLauncher"
    poll_s: float = 10.0  # seconds between two reads of the points' SLURM states
    wait_min: float | None = None  # stop waiting after this; null: until every point ends


ConfigStore.instance().store(
    group="hydra/launcher", name="bioqwen_slurm", node=BioqwenSlurmQueueConf, provider="bioqwen"
)


class BioqwenSlurmLauncher(SlurmLauncher):
    """SlurmLauncher whose sweep survives cancelled, timed-out and preempted points."""

    def __call__(
        self,
        sweep_overrides: list[str],
        job_dir_key: str,
        job_num: int,
        job_id: str,
        singleton_state: dict[type, Singleton],
    ) -> JobReturn:
        """Run one point on its compute node (as the plugin does, resuming after a requeue)."""
        import submitit

        from bioqwen.sweeps import launcher

        assert self.hydra_context is not None and self.config is not None
        assert self.task_function is not None
        Singleton.set_state(singleton_state)
        setup_globals()
        config = self.hydra_context.config_loader.load_sweep_config(self.config, sweep_overrides)
        with open_dict(config.hydra.job):
            config.hydra.job.id = submitit.JobEnvironment().job_id
            config.hydra.job.num = job_num
        launcher.prepare_point(config, int(self.params.get("max_num_timeout") or 0))
        return run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=config,
            job_dir_key=job_dir_key,
            job_subdir_key="hydra.sweep.subdir",
        )

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Submit the points as one array, record them, wait (bounded), collect every point."""
        import submitit

        from bioqwen.sweeps import launcher

        assert self.config is not None
        own = {k: self.params.get(k) for k in launcher.OWN_KEYS}
        params = {k: v for k, v in self.params.items() if k not in launcher.OWN_KEYS}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR,
            folder=params.pop("submitit_folder"),
            slurm_max_num_timeout=params.pop("max_num_timeout"),
        )
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in base else f"{self._EXECUTOR}_{k}": v for k, v in params.items()}
        )
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        nums = range(initial_job_idx, initial_job_idx + len(job_overrides))
        calls = [
            (list(o), "hydra.sweep.dir", n, f"job_id_for_{n}", Singleton.get_state())
            for o, n in zip(job_overrides, nums, strict=True)
        ]
        for overrides, _, num, _, _ in calls:
            launcher.log.info("\t#%d : %s", num, " ".join(filter_overrides(overrides)))
        submitted = executor.map_array(self, *zip(*calls, strict=True))
        assert self.hydra_context is not None  # set by setup(), which Hydra calls first
        jobs = []
        for (overrides, _, num, _, _), job in zip(calls, submitted, strict=True):
            config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
            with open_dict(config.hydra.job):
                config.hydra.job.num = num
            jobs.append(
                launcher.PointJob(
                    num=num,
                    overrides=overrides,
                    dir=launcher.point_dir(config),
                    job_id=str(job.job_id),
                    log=job.paths.stdout,
                    result=job.paths.result_pickle,
                )
            )
            launcher.write_point_record(jobs[-1])
        launcher.write_jobs_file(sweep_dir, jobs)
        launcher.announce(sweep_dir, jobs)
        launcher.wait(jobs, float(own["poll_s"] or 10), own["wait_min"])
        return [launcher.job_return(job) for job in jobs]
