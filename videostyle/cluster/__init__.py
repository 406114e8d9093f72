"""Layer 6, the cluster: connecting to Ray, rendering a shot's chunks on Ray actors, and batches on Ray.
Implements what the run layer defines; the commands hand it to the run."""
