"""The public namespace, frozen (in the manner of SciPy's test_public_api): each public
module's ``__all__``; every listed name exists; no public function or class defined
in a module is left out of its ``__all__``; the package root shows only public
modules; internals live in ``testbed._engine`` and nothing public shadows a module."""
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys

import numpy as np
import pytest

import testbed

PUBLIC = {
    "testbed": ["__version__", "run", "TestbedError", "CriticalPoint", "Landscape", "Param",
                "from_kernels", "add_folder", "landscape", "landscapes", "register",
                "Result", "symbolic"],
    "testbed.kernel": ["njit", "BUDGET", "EVENT", "DONE", "DIVERGED", "STATUS_NAMES",
                       "normal", "uniform", "uniform_ball"],
    "testbed.events": ["Event", "NEVER", "converged", "escape", "leave_ball"],
    "testbed.projections": ["IDENTITY", "Projection", "ball", "box"],
    "testbed.measure": ["classify", "hessian_spectrum", "top_eigenvalues"],
    "testbed.curvature": ["Eigs", "TraceEstimate", "SpectralDensity", "lanczos",
                          "lanczos_operator", "ritz", "top_eigenvalues", "extreme_eigenvalues",
                          "hvp_error",
                          "eig_ratio", "hutchinson_trace", "probe_variance", "slq",
                          "jackson_w1_bound", "slq_sampling_w1", "wasserstein1"],
    "testbed.critical": ["Found", "METHODS", "Search", "classify", "classify_spectra",
                         "deduplicate", "evaluator", "find", "newton_steps", "search",
                         "spectral_steps"],
    "testbed.slices": ["Piece", "parse_range", "layout_of", "weight_mask", "random_direction",
                       "normalize", "target_direction", "interpolate", "surface",
                       "slice_curvature", "hessian_eig_map", "pca_directions",
                       "project_trajectory", "trajectory_from_result", "save", "load",
                       "NORMS"],
    "testbed.nets": ["blas_threads", "landscape_entry", "network", "feedforward",
                     "digits_mlp", "outputs", "collapsed_point", "Dense", "Residual", "Norm",
                     "Block", "mlp_blocks", "init_params", "param_count", "pack",
                     "packed_data", "loss_name", "blocks", "data", "layout", "mlp", "KERNELS",
                     "metrics", "splits", "accuracy", "error", "on_data", "split"],
    "testbed.nets.data": ["circles", "digits", "moons", "one_hot", "spirals",
                          "teacher_student"],
    "testbed.rules": ["get", "hyper_params", "hyper_vector", "names", "shipped"],
    "testbed.claims": ["Criterion", "Verdict", "at_least", "at_most", "close", "get", "holds",
                       "ids", "is_user", "modules", "shipped", "user_code"],
    "testbed.verify": ["Check", "Report", "completeness", "declared_points", "derivatives",
                       "describe", "entries", "landscape", "outputs_written",
                       "parameter_domains", "points", "provenance", "DENSE_MAX", "DIGITS",
                       "EPS", "ROUND", "SAFETY", "SEARCH_MAX_D", "SINGULAR", "STEP"],
    "testbed.paths": ["KINDS", "Curve", "NEB", "along", "barrier", "bezier_coefficients",
                      "check_t", "coefficients", "curve", "grid", "linear", "losses", "neb",
                      "plane", "plane_coordinates", "polychain_coefficients", "tangents"],
    "testbed.align": ["Alignment", "IMPROVEMENT", "activation_matching", "check_compatible",
                      "hidden_activations", "hidden_widths", "identity", "mlp_blocks",
                      "permute", "weight_matching"],
    "testbed.merge": ["DOT_THRESHOLD", "NORM_EPS", "Soup", "aligned_soup", "greedy_soup",
                      "slerp", "slerp_model", "uniform_soup"],
    "testbed.nets.metrics": ["accuracy", "error", "on_data"],
    "testbed.nets.splits": ["split"],
    "testbed.perturb": ["ENV", "MAX_LEVEL", "inputs", "level", "validate"],
    "testbed.result": ["Result"],
    "testbed.ensemble": ["OBSERVABLES", "check_seed", "run", "threads_used"],
    "testbed.cache": ["cached", "code_hash", "cpu_name", "ensure_writable", "key_of", "lookup",
                      "results_dir"],
    "testbed.sweep": ["SCHEDULER_ENV", "Sweep", "load", "parse_axis", "parse_grid",
                      "parse_seeds", "sweep"],
}
# the modules `import testbed` puts in the package root besides the public names
ROOT_MODULES = {"ensemble", "errors", "events", "objective", "perturb", "projections",
                "result", "rules"}


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_all_is_frozen(name):
    module = importlib.import_module(name)
    assert sorted(module.__all__) == sorted(PUBLIC[name]), (
        f"{name}.__all__ changed: update PUBLIC here if the change is intended")
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.{attr} is listed but missing"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_definition_is_listed(name):
    module = importlib.import_module(name)
    defined = {n for n, obj in vars(module).items()
               if not n.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
               and getattr(obj, "__module__", None) == name}
    assert defined <= set(module.__all__), f"{name}: not in __all__: {defined - set(module.__all__)}"


def test_package_root_shows_only_public_names():
    out = subprocess.run([sys.executable, "-c", "import testbed; print(' '.join(dir(testbed)))"],
                         capture_output=True, text=True, check=True).stdout.split()
    public = {n for n in out if not n.startswith("_")}
    assert public == set(PUBLIC["testbed"]) - {"__version__"} | ROOT_MODULES, public
    root = testbed.__path__
    private_files = {m.name for m in pkgutil.iter_modules(root) if m.name.startswith("_")}
    assert private_files == {"_engine", "_version", "_jit"}, private_files   # _jit: a shim


def test_no_public_name_shadows_a_module():
    for name in PUBLIC:
        module = importlib.import_module(name)
        if not hasattr(module, "__path__"):
            continue
        subs = {m.name for m in pkgutil.iter_modules(module.__path__)}
        clash = {n for n in module.__all__ if n in subs
                 and not inspect.ismodule(getattr(module, n))}
        assert not clash, f"{name}: {clash} shadow submodules"


def test_import_works_without_the_jit():
    """Rules and kernels run as plain Python under NUMBA_DISABLE_JIT=1 (to step through
    them in a debugger, or to measure coverage), with the same results."""
    lanes = "np.linspace([1.5, 0.5], [2.5, 0.5], 64)"      # 64 replicas: the GD lanes
    code = ("import numpy as np, testbed; L = testbed.landscape('quadratic', d=3); "
            "r = testbed.run(L, 'noisy_gd', np.ones(3), steps=5, eta=0.1, sigma=0.1, n=2, "
            "seed=3); E = testbed.landscape('eos_minimalist'); "
            f"e = testbed.run(E, 'gd', {lanes}, steps=5, eta=0.3); "
            "print(repr((r.x.tolist(), e.x.tolist(), e.traces['loss'].tolist())))")
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    plain = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env,
                           capture_output=True, text=True, check=True).stdout
    L = testbed.landscape("quadratic", d=3)
    jit = testbed.run(L, "noisy_gd", np.ones(3), steps=5, eta=0.1, sigma=0.1, n=2, seed=3)
    E = testbed.landscape("eos_minimalist")
    gd = testbed.run(E, "gd", eval(lanes), steps=5, eta=0.3)
    assert eval(plain) == (jit.x.tolist(), gd.x.tolist(), gd.traces["loss"].tolist())


def test_every_subpackage_is_installed():
    """pyproject.toml lists the packages a non-editable install ships: each folder of
    the package with an __init__.py must be there."""
    import tomllib
    from pathlib import Path
    root = Path(testbed.__file__).parent
    if not (root.parent / "pyproject.toml").exists():
        pytest.skip("testbed is not installed from a checkout")
    listed = set(tomllib.loads((root.parent / "pyproject.toml").read_text())
                 ["tool"]["setuptools"]["packages"])
    found = {"testbed." + ".".join(p.parent.relative_to(root).parts) if p.parent != root
             else "testbed" for p in root.rglob("__init__.py")}
    assert found - {"testbed.functions"} <= listed, found - listed
