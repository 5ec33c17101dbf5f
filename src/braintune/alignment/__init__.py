"""Brain alignment: voxelwise encoding models (paper 3.4.1).

``ridge``: ridge on himalaya's backends with the reference's bootstrapped chunk CV and selection score;
``encoding``: per-layer fits of one checkpoint for one subject, rho, rho/NC and B per region.
The low-level impact analysis, which reuses both, is the package :mod:`braintune.lowlevel`.
"""
