"""Click commands of `tickpipe`: thin; parse, call engine/ or bench/, print."""
