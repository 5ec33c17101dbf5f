"""Impact of low-level speech features on brain alignment (paper 3.4.2).

``impact``: the low-level features regressed out of the model features, the residual alignment
B_r and R = 100 (B_o - B_r) / B_o per region, layer and feature.
"""
