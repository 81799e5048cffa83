//! allmende-tensor: weight matrices (quantized or float, mmapped or owned), the thread pool,
//! and row-parallel matrix ops that call the kernels. No model knowledge.

mod bytes;
mod huge;
mod matmul;
mod pool;
mod qmatrix;

pub use bytes::{ByteView, Storage};
pub use pool::ThreadPool;
pub use qmatrix::{Layout, QMatrix, TensorError};
