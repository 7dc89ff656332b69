"""Benchmarks behind ``trtssd bench``: network-only sweeps (:mod:`.network`), end-to-end video
FPS (:mod:`.e2e`) and the table / JSON / plot report (:mod:`.report`)."""
