"""One module per job: Hydra entry points that only wire the library pieces together."""
