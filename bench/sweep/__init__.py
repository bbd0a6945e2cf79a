"""`bench sweep`: a matrix of runs (methods x splits x folds x seeds x --set grids), each cell one
`bench run` process, launched locally or on Slurm; cells with a complete run are skipped.

`matrix` expands the cells, `skip` says which runs a cell already has, `plan` turns cells into
`bench run` options and commands, `launchers` runs them locally, `slurm` through submitit.
"""
