"""Development tools: synthetic data, simulators of the outside systems, fault hooks and test helpers.

Importable by tests and benchmarks (run from the repository root); left out of the production wheel.
Nothing in flows/, tasks/, services/, rules/, store/, connectors/, privacy/ or cli/ imports it.
"""
