"""Money: what the log says was spent, and where self-hosting crosses over API prices.

* :mod:`~weighbridge.money.spend`: totals from the log by model, key, route, provider or day,
  summed exactly (:mod:`~weighbridge.money.amounts`) over a window of UTC days
  (:mod:`~weighbridge.money.window`).
* :mod:`~weighbridge.money.budgets`: each key's budget, burn rate and run-out date.
* :mod:`~weighbridge.money.crossover`: the self-hosting arithmetic, with its inputs gathered
  by :mod:`~weighbridge.money.inputs` from the catalog, the config, the log, a hardware preset
  (:mod:`~weighbridge.money.presets`) and a measured run (:mod:`~weighbridge.money.throughput`);
  :mod:`~weighbridge.money.report` holds one result, which :mod:`~weighbridge.money.html` and
  :mod:`~weighbridge.money.png` draw through :mod:`~weighbridge.money.chart`.

Per-call prices are not made here: :mod:`weighbridge.costs` prices each call when it is made,
and everything here reads what it wrote.
"""
