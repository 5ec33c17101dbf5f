"""Brain alignment (voxelwise encoding models) and the low-level impact analysis.

``ridge``: himalaya RidgeCV with the reference's bootstrapped chunk CV and selection score;
``encoding``: per-layer fits of one checkpoint for one subject, rho, rho/NC and B per region;
``lowlevel``: low-level features regressed out of the model features, residual alignment and R.
"""
