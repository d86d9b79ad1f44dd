"""tickpipe bench."""
