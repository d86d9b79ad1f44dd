"""tickpipe cli."""
