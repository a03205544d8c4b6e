"""gpugrad: reverse-mode autodiff for MLPs on NVIDIA GPUs."""
