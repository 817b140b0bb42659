"""Speed of losskit's losses against each framework's native loss (``python -m benchmarks``).

Every case times forward + backward of one native loss and of the matching losskit call in the
same process, alternating the two, and reports ``losskit / native`` (below 1: losskit faster).
The timing helper lives in :mod:`benchmarks._timing`; one module per framework defines its cases.
"""
