"""tickpipe tuning."""
