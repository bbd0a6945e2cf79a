"""`python -m bench ...` is `bench ...` (how subprocesses, e.g. `bench sweep`'s cells, start the CLI)."""

from bench.cli import main

if __name__ == "__main__":
    main()
