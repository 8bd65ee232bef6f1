"""Development only: the demo, the sample account, the AWS emulator, Lambda handlers run locally, and the
full ASFF validation. The tests, the benchmarks and ``make demo`` use it; the Lambda layer never ships it
(layers/auditor/Makefile lists what the layer holds)."""
