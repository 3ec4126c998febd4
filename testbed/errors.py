"""The one exception type users see: a message that names the problem and the fix."""


class TestbedError(ValueError):
    """Bad input or an impossible request, with a message naming the problem."""
    __test__ = False  # not a pytest test class despite the name
