"""Layer 5, a run: the plan of a shot, drivers (single, multi-pass, chunked), the work store and flow cache,
render, outputs, assembly, evaluation and the report, batches. Knows no cluster: an executor is handed in."""
