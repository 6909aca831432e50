"""The benchmark suite: cells and profiles, the runner and its records, sweeps (local or on Dask), reports, comparison and the gate."""
