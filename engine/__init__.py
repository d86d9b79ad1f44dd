"""tickpipe engine: segment, atomics, rings, wait strategies, clock, histograms, supervisor."""
