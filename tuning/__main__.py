"""`python -m tuning ...` runs the same commands as `tickpipe tune ...`."""

from tuning.cli import tune

if __name__ == "__main__":
    tune(prog_name="python -m tuning")
