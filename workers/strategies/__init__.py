"""The built-in strategies: plug-ins written against the public API (`tickpipe`) and
nothing else, exactly as a user writes theirs. Read them as examples."""
