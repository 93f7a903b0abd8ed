"""The parent end of the fork boundary: a claimed job to a runner, its limits, its ending."""
