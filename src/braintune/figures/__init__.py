"""Figures of brain alignment and low-level impact (paper Figs. 2, 3, 5, 6, 7, 13, 14, 15).

``style`` holds the project-wide palette and labels, ``bars`` the grouped bar plots with standard
errors and significance asterisks, ``flatmaps`` the pycortex flatmaps, ``paper`` the figures
themselves (one function per figure, driven by the statistics tables and per-voxel results).
"""
