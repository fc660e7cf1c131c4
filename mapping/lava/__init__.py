"""Everything of mapping that imports Lava, one module per concern.

* :mod:`mapping.lava.registry`: the lowering registry (``kind_of``, ``lowering``, ``LOWERINGS``);
* :mod:`mapping.lava.populations`, :mod:`~mapping.lava.sources`,
  :mod:`~mapping.lava.projections`, :mod:`~mapping.lava.links`: one lowering per node kind;
* :mod:`mapping.lava.wiring`: ``wire(deployment)``, the loop over the lowerings;
* :mod:`mapping.lava.models`: process models that record in the child and ship results in bulk;
* :mod:`mapping.lava.runs`: the bounded, always-released run primitive ``run_process``;
* :mod:`mapping.lava.side_effects`: Lava's process-wide side effects kept in check
  (start method, log handlers, global registries).

Importing this package imports Lava's multiprocessing module first, without its
``multiprocessing.set_start_method('fork')`` (which fails when a start method was
already chosen); every module below imports Lava only after that.

:mod:`mapping.lava_backend` is the backend module that :func:`mapping.compile` and
:func:`mapping.run` use; :mod:`mapping.lava_regulator` runs the meta-regulator
through :func:`mapping.lava.runs.run_process`.
"""

from mapping.lava.side_effects import import_lava

import_lava()
