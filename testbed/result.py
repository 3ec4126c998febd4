"""The result of an ensemble run: arrays, and everything that made them.

``meta`` records the landscape (name, d, parameter values), the rule and its
hyper-parameters, the seed, the step budget, the observation stride, the event, and
the package version; ``save``/``load`` keep arrays and meta together in one ``.npz``.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np

from ._engine.status import BUDGET, DIVERGED, DONE, EVENT, STATUS_NAMES


@dataclasses.dataclass
class Result:
    """What :func:`testbed.run` returns: N replicas' end points, statuses and traces.

    A trace is NaN after its replica stopped. A diverged replica's ``x`` is its
    (non-finite) iterate after the step that revealed the divergence; its
    ``stop_step`` is the step whose loss was not finite.

    Attributes
    ----------
    x : array (N, d)
        Final points.
    status : int array (N,)
        :data:`testbed.kernel.BUDGET`, ``EVENT``, ``DONE`` or ``DIVERGED``
        (names in :data:`testbed.kernel.STATUS_NAMES`).
    stop_step : int array (N,)
        The step at which each replica stopped.
    steps : int array (n_obs,)
        The steps at which the traces were observed.
    traces : dict of arrays
        ``loss``, ``grad_norm``, ``sharpness`` (n_obs, N) as asked for by
        ``observe``; ``coords`` (n_obs, n_coords, N).
    scalars : array (N, SCALARS)
        The rule's per-replica scalars ``c[1:]`` at the end.
    meta : dict
        Everything that made the result: landscape, parameters, rule,
        hyper-parameters, seed, steps, stride, event, projection, perturbation,
        package version.
    """
    x: np.ndarray
    status: np.ndarray
    stop_step: np.ndarray
    steps: np.ndarray
    traces: dict
    scalars: np.ndarray
    meta: dict

    @property
    def n(self) -> int:
        """The number of replicas N."""
        return self.x.shape[0]

    @property
    def diverged(self) -> np.ndarray:
        """Replicas whose loss or iterate left the finite numbers (bool, (N,))."""
        return self.status == DIVERGED

    @property
    def stopped_by_event(self) -> np.ndarray:
        """Replicas stopped by the run's event (bool, (N,))."""
        return self.status == EVENT

    @property
    def finished(self) -> np.ndarray:
        """Replicas the rule itself declared finished (e.g. perturbed GD's return)."""
        return self.status == DONE

    @property
    def ran_out(self) -> np.ndarray:
        """Replicas that ran all their steps (bool, (N,))."""
        return self.status == BUDGET

    def to_frame(self):
        """One row per replica: replica, status, stop step, final loss, and the
        scalar hyper-parameters (tidy, for pandas/seaborn)."""
        import pandas as pd
        frame = pd.DataFrame({
            "replica": np.arange(self.n),
            "status": [STATUS_NAMES[int(s)] for s in self.status],
            "stop_step": self.stop_step,
        })
        for key, value in self.meta.get("hyper", {}).items():
            frame[key] = np.broadcast_to(np.asarray(value), (self.n,))
        frame["seed"] = self.meta.get("seed")
        return frame

    def save(self, path) -> None:
        """Write the arrays and ``meta`` (as JSON) to one compressed ``.npz`` file."""
        arrays = {f"trace_{k}": v for k, v in self.traces.items()}
        np.savez_compressed(path, x=self.x, status=self.status, stop_step=self.stop_step,
                            steps=self.steps, scalars=self.scalars,
                            meta=np.array(json.dumps(self.meta, default=_jsonable)), **arrays)

    @classmethod
    def load(cls, path) -> "Result":
        """A result written by :meth:`save` (no pickle involved)."""
        with np.load(path, allow_pickle=False) as z:
            traces = {k[6:]: z[k] for k in z.files if k.startswith("trace_")}
            return cls(x=z["x"], status=z["status"], stop_step=z["stop_step"],
                       steps=z["steps"], traces=traces, scalars=z["scalars"],
                       meta=json.loads(str(z["meta"])))

    def __repr__(self):
        counts = {name: int(np.sum(self.status == code)) for code, name in STATUS_NAMES.items()}
        return (f"<Result {self.meta.get('landscape')} d={self.x.shape[1]} rule="
                f"{self.meta.get('rule')} N={self.n} {counts}>")


def _jsonable(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)

__all__ = ["Result"]
