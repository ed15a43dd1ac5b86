"""The thin shared engine: errors, registries, devices, seeds, checkpoints, reports, the loop."""
