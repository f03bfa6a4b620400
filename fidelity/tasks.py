"""django-q2 entry points of the fidelity package: load by id, call one service."""

from . import drift, gate


def fidelity_gate_evaluate(run_id: int) -> str | None:
    report = gate.fidelity_gate_evaluate(run_id=run_id)
    return report.verdict if report is not None else None


def drift_monitor_run() -> dict:
    return drift.drift_monitor_run().as_dict()
