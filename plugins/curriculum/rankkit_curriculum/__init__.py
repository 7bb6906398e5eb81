"""rankkit-curriculum: curriculum weighting of training samples (MacAvaney et al., SIGIR 2020).

Importing this package does no work.
"""

__all__: list[str] = []
