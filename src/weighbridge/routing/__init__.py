"""Routes: names a client passes as ``model`` that stand for an ordered list of targets, with
fallbacks, load balancing by weight, a price ceiling, a privacy rule and a circuit breaker per
target. Planning is pure (:mod:`.plan`); :mod:`.planner` turns a request into its calls, and the
attempt pipeline walks them (:mod:`weighbridge.attempts`)."""
