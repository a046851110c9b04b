"""What the local pool's fork server imports once, before it forks any grading worker.

``autograder.runners.LocalPool`` starts its workers with ``multiprocessing``'s
``forkserver`` method: a fresh server process imports this module, then forks one child
per worker. Each worker so begins with nbgrader, nbconvert, nbclient, numpy and
``kl_helpers`` already imported (about a second of CPU each worker spent on its own
before), and with the patches installed before any of them imported jsonschema (see
``autograder.patches``). Importing it has exactly these effects; it is imported by the
fork server only.
"""

from . import patches

patches.install()

from . import runners, worker  # noqa: E402,F401 -- the worker process's own code

worker.import_grading_code()
