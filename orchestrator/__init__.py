"""keyshift: convert integer primary keys to UUID keys, and prove nothing was lost.

The package reads as a pipeline of stages (docs/architecture.md): connect -> catalog -> plan ->
render -> verify -> apply -> report, driven by cli; errors and names are used by all;
resources says where the shipped sql/ and checks/ are.
"""

__version__ = "0.1.0"
