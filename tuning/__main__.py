"""`python -m tickpipe.tuning ...` runs the same commands as `tickpipe tune ...`."""

from tickpipe.tuning.cli import tune

if __name__ == "__main__":
    tune(prog_name="python -m tickpipe.tuning")
