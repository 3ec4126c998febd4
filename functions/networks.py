"""Small neural networks as landscapes (the kernels are :mod:`testbed.nets.mlp`).

Each entry is a fixed architecture, loss and data set; the coordinates are the flat
parameter vector (layout: :func:`testbed.nets.layout.layout`). The data are drawn
when the entry is bound (nothing is computed at import), from the entry's own
parameters (sample count, seeds). Build other networks, and larger ones such as
benchmark B4's digits network, with :func:`testbed.nets.network`,
:func:`testbed.nets.feedforward` or :func:`testbed.nets.digits_mlp`.

Declared critical points, exact for these architectures (two or more hidden layers):

- the *collapsed* network (:func:`testbed.nets.collapsed_point`): all weights zero,
  the last bias fitting the mean target (squared loss) or the class frequencies
  (cross-entropy). Its Hessian vanishes outside the last layer, where it is the
  Gauss-Newton matrix: Morse index 0 and degenerate (it is not a minimum: the
  third-order terms through the zero weights descend);
- for the teacher-student entry, the teacher's parameters: loss 0, a global minimum
  (another for every permutation and sign flip of hidden units). Its Hessian is the
  PSD Gauss-Newton matrix (1/n) J^T J, non-singular in exact arithmetic when
  n * k >= d for generic data, but so ill-conditioned for deep tanh teachers (smallest
  over largest eigenvalue 1e-12 .. 1e-10 for LeCun-normal teachers 3-5-5-1, n = 200,
  seeds 0-2) that it is singular to the catalogue's tolerance (1e-8 relative): it is
  declared degenerate.
"""
import functools

from testbed import CriticalPoint, Param
from testbed.nets import collapsed_point, data, landscape_entry, mlp_blocks

TEACHER = mlp_blocks((3, 5, 5, 1), act="tanh")
MOONS = mlp_blocks((2, 6, 6, 2), act="tanh")
SPIRALS = mlp_blocks((2, 8, 8, 3), act="tanh")
CIRCLES = mlp_blocks((2, 6, 6, 1), act="gelu")


@functools.lru_cache(maxsize=16)
def _teacher(n, seed):
    return data.teacher_student(n, TEACHER, seed=seed, scheme="lecun")


def _teacher_data(n, seed):
    X, Y, _ = _teacher(int(n), int(seed))
    return X, Y


def _circles_data(n, noise, seed):
    X, Y = data.circles(int(n), noise=float(noise), seed=int(seed))
    return X, Y[:, 1:]             # one output: the indicator of the inner circle


def _collapsed(entry, dim, **values):
    x, energy = collapsed_point(entry.bind(**values))
    return CriticalPoint(tuple(x), energy, 0, degenerate=True)


def _teacher_points(dim, n, seed):
    _, _, theta = _teacher(int(n), int(seed))
    teacher = CriticalPoint(tuple(theta), 0.0, 0, degenerate=True)
    return [teacher, _collapsed(TEACHER_STUDENT, dim, n=n, seed=seed)]


_N = Param(200, 1, 20000, "number of samples")
_SEED = Param(0, 0, 2**31 - 1, "seed of the data (and of the teacher)")

TEACHER_STUDENT = landscape_entry(
    "teacher_student_tanh", TEACHER, _teacher_data, loss="mse",
    params={"n": _N, "seed": _SEED},
    critical_points=_teacher_points,
    tags=("teacher-student", "global-minimum"),
    paper="teacher-student setting, e.g. Saad & Solla (1995); Gardner & Derrida (1989)",
    description="3-5-5-1 tanh student on Gaussian inputs labelled by a 3-5-5-1 tanh "
                "teacher (LeCun-normal weights, zero biases); squared loss 1/(2n) sum "
                "(f - y)^2")

MOONS_TANH = landscape_entry(
    "moons_tanh", MOONS,
    lambda n, noise, seed: data.moons(int(n), noise=float(noise), seed=int(seed)),
    loss="ce",
    params={"n": _N, "noise": Param(0.1, 0.0, 10.0, "Gaussian jitter"), "seed": _SEED},
    critical_points=lambda dim, **v: [_collapsed(MOONS_TANH, dim, **v)],
    tags=("classification",),
    paper="two moons (scikit-learn's make_moons construction)",
    description="2-6-6-2 tanh network, softmax cross-entropy on two moons")

SPIRALS_TANH = landscape_entry(
    "spirals_tanh", SPIRALS,
    lambda n, noise, seed: data.spirals(int(n), noise=float(noise), seed=int(seed)),
    loss="ce",
    params={"n": Param(300, 3, 20000, "number of samples"),
            "noise": Param(0.05, 0.0, 10.0, "Gaussian jitter"), "seed": _SEED},
    critical_points=lambda dim, **v: [_collapsed(SPIRALS_TANH, dim, **v)],
    tags=("classification",),
    paper="three spiral arms (the CS231n toy)",
    description="2-8-8-3 tanh network, softmax cross-entropy on three spirals")

CIRCLES_GELU = landscape_entry(
    "circles_gelu", CIRCLES, _circles_data, loss="mse",
    params={"n": _N, "noise": Param(0.05, 0.0, 10.0, "Gaussian jitter"), "seed": _SEED},
    critical_points=lambda dim, **v: [_collapsed(CIRCLES_GELU, dim, **v)],
    tags=("regression",),
    paper="two concentric circles (scikit-learn's make_circles construction)",
    description="2-6-6-1 GELU network, squared loss on the inner-circle indicator")
