"""The Python Temporal worker of the trainer: serves the ``trainModels`` activity on the training task queue.

``retrainModelsWorkflow`` (TypeScript, on the ``understudy`` queue) calls it; training runs in a thread while the
activity heartbeats, so a killed trainer is noticed within the heartbeat timeout and the attempt is retried.
It trains on a folder of CSVs (``dataDir``) or on the Telegraf measurements in InfluxDB (``influx``). A series
problem (too short, NaN, negative, unreadable file, unknown database) is a non-retryable ``InvalidInput`` failure;
an InfluxDB that cannot be reached is an ordinary failure, retried.

Usage: python -m understudy_trainer.worker [--address 127.0.0.1:7233] [--namespace default]
       [--task-queue understudy-training]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from .data import SeriesError, load_dir

TRAINING_TASK_QUEUE = "understudy-training"


@activity.defn(name="trainModels")
async def train_models(params: dict) -> dict:
    def run() -> dict:
        # Imported here, not at the top: PyTorch and Prophet take seconds to load, and the worker should be
        # polling (and `understudy up` on its way) well before the first training run needs them.
        from .train import INFLUX_DAYS, influx_source, train_all, train_from_influx

        common = {
            "fit_fraction": float(params.get("fitFraction", 1.0)),
            "epochs": int(params.get("epochs", 12)),
            "log": lambda m: activity.logger.info(m),
            "number_after": [Path(d) for d in params.get("numberAfter") or []],
        }
        influx = params.get("influx")
        if influx:
            src = influx_source(
                influx["url"],
                influx.get("database", "understudy"),
                float(influx.get("days", INFLUX_DAYS)),
                influx.get("until"),
                influx.get("hosts"),
                influx.get("networkMbps"),
                influx.get("usernameEnv", "UNDERSTUDY_INFLUX_USERNAME"),
                influx.get("passwordEnv", "UNDERSTUDY_INFLUX_PASSWORD"),
            )
            return train_from_influx(src, Path(params["artifactsDir"]), **common)
        if not params.get("dataDir"):
            raise SeriesError("trainModels needs dataDir (a folder of CSVs) or influx (an InfluxDB to read)")
        only = params.get("only")
        series = load_dir(
            Path(params["dataDir"]),
            Path(params["labelsFile"]) if params.get("labelsFile") else None,
            list(only) if only else None,
            params.get("limit"),
        )
        if not series:
            raise SeriesError(f"{params['dataDir']}: no .csv series found")
        return train_all(series, Path(params["artifactsDir"]), **common)

    loop = asyncio.get_running_loop()
    job = loop.run_in_executor(None, run)
    while True:
        done, _ = await asyncio.wait({job}, timeout=5)
        if done:
            break
        activity.heartbeat("training")
    try:
        return job.result()
    except SeriesError as exc:
        raise ApplicationError(str(exc), type="InvalidInput", non_retryable=True) from exc


async def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--address", default="127.0.0.1:7233")
    p.add_argument("--namespace", default="default")
    p.add_argument("--task-queue", default=TRAINING_TASK_QUEUE)
    a = p.parse_args(argv)
    client = await Client.connect(a.address, namespace=a.namespace)
    worker = Worker(client, task_queue=a.task_queue, activities=[train_models], max_concurrent_activities=1)
    print(f"trainer worker: polling task queue {a.task_queue} on {a.address}", flush=True)
    await worker.run()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
