//! allmende-tensor: Weight matrices (quantized or float, mmapped or owned), the thread pool, and row-parallel ops over the kernels
