"""GPU kernels the methods' artifacts run by (imported only when such an artifact is loaded on a GPU)."""
