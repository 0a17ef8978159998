"""`pfgen run --local`: run a compiled job on this machine as the cluster would."""
