"""tickpipe workers."""
