"""A replica's status codes, as stored in ``Result.status`` (public names in
:mod:`testbed.kernel`)."""
BUDGET, EVENT, DONE, DIVERGED = 1, 2, 3, 4
STATUS_NAMES = {BUDGET: "budget", EVENT: "event", DONE: "done", DIVERGED: "diverged"}
