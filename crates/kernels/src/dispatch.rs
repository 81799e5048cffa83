//! The kernel table (`Kernels`, one struct of fn pointers per ISA) and its one-time selection.
//!
//! `SCALAR` holds the reference functions. Each ISA table overrides only what it implements and
//! takes the rest from `SCALAR` with struct-update syntax, so a missing SIMD kernel visibly falls
//! back. `kernels()` picks the best table the CPU supports once per process (`OnceLock`); the
//! environment variable `ALLMENDE_ISA=scalar|avx2|avx512vnni` forces a table, and a request this CPU cannot
//! run falls back to the best available with a one-line warning on stderr.
//!
//! A `&'static Kernels` can only be obtained through `kernels()`, `Kernels::for_isa()` or
//! `Kernels::available()`, which check CPU features first: holding one proves its target
//! features are present, which is what makes the safe wrappers below sound.

use std::sync::OnceLock;

use crate::block::{as_blocks, as_blocks_mut, f32s_as_bytes};
use crate::gemm::act::{as_act_x, as_act_x_mut, BlockQ8_0X, BlockQ8_1X};
use crate::gemm::layout::*;
use crate::gemm::{self, GemmAct, GEMM_MAX_TOKENS};
use crate::quant::{self, *};
use crate::{float, GgmlType};

/// An x8 GEMM kernel: 8 interleaved weight rows (`W`, one x8 block per block column) times up to
/// [`GEMM_MAX_TOKENS`] activation rows (`A` blocks); `out[t][r]` = dot(row r, token t).
pub(crate) type GemmFn<W, A> = unsafe fn(&[W], &[&[A]], &mut [[f32; 8]]);

/// A table of kernels for one instruction set.
pub struct Kernels {
    /// The ISA name (`scalar`, `avx2`, `avx512vnni`).
    pub name: &'static str,
    pub(crate) dot_f32_f32: unsafe fn(&[u8], &[u8]) -> f32,
    pub(crate) dot_f16_f32: unsafe fn(&[u8], &[u8]) -> f32,
    pub(crate) dot_bf16_f32: unsafe fn(&[u8], &[u8]) -> f32,
    pub(crate) dot_q4_0_q8_0: unsafe fn(&[BlockQ4_0], &[BlockQ8_0]) -> f32,
    pub(crate) dot_q4_1_q8_1: unsafe fn(&[BlockQ4_1], &[BlockQ8_1]) -> f32,
    pub(crate) dot_q5_0_q8_0: unsafe fn(&[BlockQ5_0], &[BlockQ8_0]) -> f32,
    pub(crate) dot_q5_1_q8_1: unsafe fn(&[BlockQ5_1], &[BlockQ8_1]) -> f32,
    pub(crate) dot_q8_0_q8_0: unsafe fn(&[BlockQ8_0], &[BlockQ8_0]) -> f32,
    pub(crate) dot_q2_k_q8_k: unsafe fn(&[BlockQ2K], &[BlockQ8K]) -> f32,
    pub(crate) dot_q3_k_q8_k: unsafe fn(&[BlockQ3K], &[BlockQ8K]) -> f32,
    pub(crate) dot_q4_k_q8_k: unsafe fn(&[BlockQ4K], &[BlockQ8K]) -> f32,
    pub(crate) dot_q5_k_q8_k: unsafe fn(&[BlockQ5K], &[BlockQ8K]) -> f32,
    pub(crate) dot_q6_k_q8_k: unsafe fn(&[BlockQ6K], &[BlockQ8K]) -> f32,
    pub(crate) gemm_q4_0_x8: GemmFn<BlockQ4_0x8, BlockQ8_0X>,
    pub(crate) gemm_q4_1_x8: GemmFn<BlockQ4_1x8, BlockQ8_1X>,
    pub(crate) gemm_q5_0_x8: GemmFn<BlockQ5_0x8, BlockQ8_0X>,
    pub(crate) gemm_q8_0_x8: GemmFn<BlockQ8_0x8, BlockQ8_0X>,
    pub(crate) gemm_q4_k_x8: GemmFn<BlockQ4Kx8, BlockQ8K>,
    pub(crate) gemm_q5_k_x8: GemmFn<BlockQ5Kx8, BlockQ8K>,
    pub(crate) gemm_q6_k_x8: GemmFn<BlockQ6Kx8, BlockQ8K>,
    pub(crate) quantize_row_q8_0: unsafe fn(&[f32], &mut [BlockQ8_0]),
    pub(crate) quantize_row_q8_0x: unsafe fn(&[f32], &mut [BlockQ8_0X]),
    pub(crate) quantize_row_q8_1x: unsafe fn(&[f32], &mut [BlockQ8_1X]),
    pub(crate) quantize_row_q8_1: unsafe fn(&[f32], &mut [BlockQ8_1]),
    pub(crate) quantize_row_q8_k: unsafe fn(&[f32], &mut [BlockQ8K]),
    pub(crate) axpy_f32: unsafe fn(&mut [f32], f32, &[f32]),
    pub(crate) scale_f32: unsafe fn(&mut [f32], f32),
    pub(crate) scores_f32: unsafe fn(&[f32], &[f32], usize, &mut [f32], usize),
    pub(crate) weighted_rows_f32: unsafe fn(&[f32], &[f32], &mut [f32]),
}

/// The scalar reference table; runs everywhere.
pub static SCALAR: Kernels = SCALAR_TABLE;

/// `SCALAR` as a constant, for `..SCALAR_TABLE` in the ISA tables.
pub(crate) const SCALAR_TABLE: Kernels = Kernels {
    name: "scalar",
    dot_f32_f32: float::dot_f32_f32,
    dot_f16_f32: float::dot_f16_f32,
    dot_bf16_f32: float::dot_bf16_f32,
    dot_q4_0_q8_0: q4_0::dot_q4_0_q8_0,
    dot_q4_1_q8_1: q4_1::dot_q4_1_q8_1,
    dot_q5_0_q8_0: q5_0::dot_q5_0_q8_0,
    dot_q5_1_q8_1: q5_1::dot_q5_1_q8_1,
    dot_q8_0_q8_0: q8_0::dot_q8_0_q8_0,
    dot_q2_k_q8_k: q2_k::dot_q2_k_q8_k,
    dot_q3_k_q8_k: q3_k::dot_q3_k_q8_k,
    dot_q4_k_q8_k: q4_k::dot_q4_k_q8_k,
    dot_q5_k_q8_k: q5_k::dot_q5_k_q8_k,
    dot_q6_k_q8_k: q6_k::dot_q6_k_q8_k,
    gemm_q4_0_x8: gemm::scalar::gemm_q4_0_x8,
    gemm_q4_1_x8: gemm::scalar::gemm_q4_1_x8,
    gemm_q5_0_x8: gemm::scalar::gemm_q5_0_x8,
    gemm_q8_0_x8: gemm::scalar::gemm_q8_0_x8,
    gemm_q4_k_x8: gemm::scalar::gemm_q4_k_x8,
    gemm_q5_k_x8: gemm::scalar::gemm_q5_k_x8,
    gemm_q6_k_x8: gemm::scalar::gemm_q6_k_x8,
    quantize_row_q8_0: q8_0::quantize_row_q8_0_act,
    quantize_row_q8_0x: gemm::act::quantize_row_q8_0x,
    quantize_row_q8_1x: gemm::act::quantize_row_q8_1x,
    quantize_row_q8_1: q8_1::quantize_row_q8_1_act,
    quantize_row_q8_k: q8_k::quantize_row_q8_k,
    axpy_f32: float::axpy_f32,
    scale_f32: float::scale_f32,
    scores_f32: float::scores_f32,
    weighted_rows_f32: float::weighted_rows_f32,
};

/// Whether `k`'s target features are present on this CPU.
fn supported(k: &Kernels) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::ptr::eq(k, &crate::x86_64::AVX2) {
        return crate::x86_64::avx2_supported();
    }
    #[cfg(target_arch = "x86_64")]
    if std::ptr::eq(k, &crate::x86_64::AVX512VNNI) {
        return crate::x86_64::avx512vnni_supported();
    }
    std::ptr::eq(k, &SCALAR)
}

/// Every table compiled into this build, best last.
fn all_tables() -> &'static [&'static Kernels] {
    #[cfg(target_arch = "x86_64")]
    {
        static T: [&Kernels; 3] = [&SCALAR, &crate::x86_64::AVX2, &crate::x86_64::AVX512VNNI];
        &T
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static T: [&Kernels; 1] = [&SCALAR];
        &T
    }
}

static ACTIVE: OnceLock<&'static Kernels> = OnceLock::new();

/// The kernel table this process uses: chosen once, from CPU features and `ALLMENDE_ISA`.
pub fn kernels() -> &'static Kernels {
    ACTIVE.get_or_init(|| {
        let req = std::env::var("ALLMENDE_ISA").ok();
        let (k, warning) = select(req.as_deref());
        if let Some(w) = warning {
            eprintln!("{w}");
        }
        k
    })
}

/// The table for an `ALLMENDE_ISA` request (`None` or empty: the best this CPU supports), plus
/// a warning when the request cannot be honoured.
pub(crate) fn select(req: Option<&str>) -> (&'static Kernels, Option<String>) {
    let best = Kernels::available().last().copied().unwrap_or(&SCALAR);
    match req.map(str::trim) {
        None | Some("") => (best, None),
        Some(name) => match Kernels::for_isa(name) {
            Some(k) => (k, None),
            None => (best, Some(format!("allmende: ALLMENDE_ISA={name} is not available on this CPU or build; using {}", best.name))),
        },
    }
}

/// The name of the active kernel table (`scalar`, `avx2`, `avx512vnni`).
pub fn isa_name() -> &'static str {
    kernels().name
}

impl Kernels {
    /// Every table this CPU can run, scalar first and best last.
    pub fn available() -> Vec<&'static Kernels> {
        all_tables().iter().copied().filter(|k| supported(k)).collect()
    }

    /// The table named `name` if it exists in this build and this CPU supports it.
    pub fn for_isa(name: &str) -> Option<&'static Kernels> {
        all_tables().iter().copied().find(|k| k.name == name && supported(k))
    }

    /// Dot product of `n` elements: weight row `w` of type `ty`, activation row `a` of
    /// `ty.vec_dot_type()` (both raw bytes). Panics on lengths that do not match.
    pub fn vec_dot(&self, ty: GgmlType, n: usize, w: &[u8], a: &[u8]) -> f32 {
        let wt = row_bytes(ty, n);
        let at = row_bytes(ty.vec_dot_type(), n);
        assert_eq!(w.len(), wt, "{ty}: weight row has {} bytes, expected {wt}", w.len());
        assert_eq!(a.len(), at, "{ty}: activation row has {} bytes, expected {at}", a.len());
        use GgmlType::*;
        // SAFETY: `self` came from `kernels()`/`for_isa()`/`available()`, which checked that this
        // CPU has the table's target features; the lengths were checked above, and `as_blocks`
        // checks that each side is a whole number of blocks, so both sides hold n elements.
        unsafe {
            match ty {
                F32 => (self.dot_f32_f32)(w, a),
                F16 => (self.dot_f16_f32)(w, a),
                BF16 => (self.dot_bf16_f32)(w, a),
                Q4_0 => (self.dot_q4_0_q8_0)(as_blocks(w), as_blocks(a)),
                Q4_1 => (self.dot_q4_1_q8_1)(as_blocks(w), as_blocks(a)),
                Q5_0 => (self.dot_q5_0_q8_0)(as_blocks(w), as_blocks(a)),
                Q5_1 => (self.dot_q5_1_q8_1)(as_blocks(w), as_blocks(a)),
                Q8_0 => (self.dot_q8_0_q8_0)(as_blocks(w), as_blocks(a)),
                Q2_K => (self.dot_q2_k_q8_k)(as_blocks(w), as_blocks(a)),
                Q3_K => (self.dot_q3_k_q8_k)(as_blocks(w), as_blocks(a)),
                Q4_K => (self.dot_q4_k_q8_k)(as_blocks(w), as_blocks(a)),
                Q5_K => (self.dot_q5_k_q8_k)(as_blocks(w), as_blocks(a)),
                Q6_K => (self.dot_q6_k_q8_k)(as_blocks(w), as_blocks(a)),
                Q8_1 | Q8_K | I8 | I16 | I32 | I64 | F64 => panic!("vec_dot: {ty} is not a weight type"),
            }
        }
    }

    /// Quantize `src` into a row of `ty` (raw bytes). Q8_0/Q8_1/Q8_K use this table's kernels
    /// (bit-identical to the scalar reference); other types use the scalar reference.
    pub fn quantize_row(&self, ty: GgmlType, src: &[f32], dst: &mut [u8]) {
        let need = row_bytes(ty, src.len());
        assert_eq!(dst.len(), need, "{ty}: destination holds {} bytes, {} elements need {need}", dst.len(), src.len());
        // SAFETY: table features checked at selection (see `vec_dot`); `as_blocks_mut` checks
        // the destination is whole blocks and `need` ties it to `src.len()`.
        unsafe {
            match ty {
                GgmlType::Q8_0 => (self.quantize_row_q8_0)(src, as_blocks_mut(dst)),
                GgmlType::Q8_1 => (self.quantize_row_q8_1)(src, as_blocks_mut(dst)),
                GgmlType::Q8_K => (self.quantize_row_q8_k)(src, as_blocks_mut(dst)),
                _ => quant::quantize_bytes(ty, src, dst),
            }
        }
    }

    /// Quantize `src` into an activation row for the x8 GEMM kernels of weight type `ty`
    /// ([`gemm_act_row_bytes`](crate::gemm_act_row_bytes) bytes). The quants are those
    /// [`Kernels::quantize_row`] gives for `ty.vec_dot_type()`. Panics if `ty` has no x8 kernels
    /// or the lengths do not match.
    pub fn quantize_gemm_act(&self, ty: GgmlType, src: &[f32], dst: &mut [u8]) {
        let Some(need) = gemm::gemm_act_row_bytes(ty, src.len()) else {
            panic!("quantize_gemm_act: {ty} rows of {} elements have no x8 kernels", src.len());
        };
        assert_eq!(dst.len(), need, "{ty}: activation row holds {} bytes, {} elements need {need}", dst.len(), src.len());
        match gemm::gemm_act_type(ty) {
            // SAFETY: table features checked at selection (see `vec_dot`); the length check above
            // ties the destination blocks to `src.len()`.
            Some(GemmAct::Q8_0X) => unsafe { (self.quantize_row_q8_0x)(src, as_act_x_mut(dst)) },
            // SAFETY: as above.
            Some(GemmAct::Q8_1X) => unsafe { (self.quantize_row_q8_1x)(src, as_act_x_mut(dst)) },
            Some(GemmAct::Q8K) => self.quantize_row(GgmlType::Q8_K, src, dst),
            None => unreachable!("gemm_act_row_bytes returned Some"),
        }
    }

    /// `out[t][r]` = dot product of row r of the x8 group `group` (weight type `ty`, `cols`
    /// columns, from [`repack_x8`](crate::repack_x8)) with activation row `acts[t]` (from
    /// [`Kernels::quantize_gemm_act`]). Bit-identical to [`Kernels::vec_dot`] of the original
    /// row for every table. Panics if `ty` has no x8 kernels or a length does not match.
    pub fn gemm_x8(&self, ty: GgmlType, cols: usize, group: &[u8], acts: &[&[u8]], out: &mut [[f32; 8]]) {
        let (Some(gb), Some(ab)) = (gemm::x8_group_bytes(ty, cols), gemm::gemm_act_row_bytes(ty, cols)) else {
            panic!("gemm_x8: {ty} rows of {cols} elements have no x8 kernels");
        };
        assert_eq!(group.len(), gb, "gemm_x8: {ty} group has {} bytes, expected {gb}", group.len());
        assert_eq!(acts.len(), out.len(), "gemm_x8: {} activation rows, {} output rows", acts.len(), out.len());
        for a in acts {
            assert_eq!(a.len(), ab, "gemm_x8: {ty} activation row has {} bytes, expected {ab}", a.len());
        }
        for (acts, out) in acts.chunks(GEMM_MAX_TOKENS).zip(out.chunks_mut(GEMM_MAX_TOKENS)) {
            let n = acts.len();
            use GgmlType::*;
            // SAFETY: table features checked at selection (see `vec_dot`); the group and every
            // activation row hold exactly cols/block_size blocks (lengths checked above), and
            // at most GEMM_MAX_TOKENS rows are passed, as the kernels require.
            unsafe {
                match ty {
                    Q4_0 => (self.gemm_q4_0_x8)(as_x8(group), &typed(acts, as_act_x)[..n], out),
                    Q4_1 => (self.gemm_q4_1_x8)(as_x8(group), &typed(acts, as_act_x)[..n], out),
                    Q5_0 => (self.gemm_q5_0_x8)(as_x8(group), &typed(acts, as_act_x)[..n], out),
                    Q8_0 => (self.gemm_q8_0_x8)(as_x8(group), &typed(acts, as_act_x)[..n], out),
                    Q4_K => (self.gemm_q4_k_x8)(as_x8(group), &typed(acts, as_blocks)[..n], out),
                    Q5_K => (self.gemm_q5_k_x8)(as_x8(group), &typed(acts, as_blocks)[..n], out),
                    Q6_K => (self.gemm_q6_k_x8)(as_x8(group), &typed(acts, as_blocks)[..n], out),
                    _ => unreachable!("x8_group_bytes returned Some"),
                }
            }
        }
    }

    /// Σ a·b over two f32 slices of equal length.
    pub fn dot_f32(&self, a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len(), "dot_f32: lengths {} and {}", a.len(), b.len());
        // SAFETY: table features checked at selection; equal lengths checked above.
        unsafe { (self.dot_f32_f32)(f32s_as_bytes(a), f32s_as_bytes(b)) }
    }

    /// y += alpha·x over slices of equal length.
    pub fn axpy_f32(&self, y: &mut [f32], alpha: f32, x: &[f32]) {
        assert_eq!(y.len(), x.len(), "axpy_f32: lengths {} and {}", y.len(), x.len());
        // SAFETY: table features checked at selection; equal lengths checked above.
        unsafe { (self.axpy_f32)(y, alpha, x) }
    }

    /// x *= s.
    pub fn scale_f32(&self, x: &mut [f32], s: f32) {
        // SAFETY: table features checked at selection; a single slice has no length contract.
        unsafe { (self.scale_f32)(x, s) }
    }

    /// Attention scores `out[i * out_stride + j] = q_i · k_j` of the `q.len() / dim` query rows
    /// and `k.len() / dim` key rows (row-major, `dim` values each). Each score is computed the
    /// same way wherever it falls in the kernel's register blocking.
    pub fn scores_f32(&self, q: &[f32], k: &[f32], dim: usize, out: &mut [f32], out_stride: usize) {
        assert!(dim > 0 && q.len().is_multiple_of(dim) && k.len().is_multiple_of(dim), "scores_f32: rows of {dim}: {} and {}", q.len(), k.len());
        let (n_q, n_k) = (q.len() / dim, k.len() / dim);
        assert!(n_q <= 1 || n_k <= out_stride, "scores_f32: {n_k} keys in rows of {out_stride}");
        assert!(n_q == 0 || n_k == 0 || (n_q - 1) * out_stride + n_k <= out.len(), "scores_f32: output too short");
        // SAFETY: table features checked at selection; shapes checked above.
        unsafe { (self.scores_f32)(q, k, dim, out, out_stride) }
    }

    /// Weighted sum of rows: `acc[d] += Σ_j w[j] · v[j * acc.len() + d]`.
    pub fn weighted_rows_f32(&self, w: &[f32], v: &[f32], acc: &mut [f32]) {
        assert!(v.len() >= w.len() * acc.len(), "weighted_rows_f32: {} rows of {} in {} values", w.len(), acc.len(), v.len());
        // SAFETY: table features checked at selection; lengths checked above.
        unsafe { (self.weighted_rows_f32)(w, v, acc) }
    }
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernels").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Up to [`GEMM_MAX_TOKENS`] byte rows viewed as block slices (unused slots empty).
fn typed<'a, A>(rows: &[&'a [u8]], view: fn(&'a [u8]) -> &'a [A]) -> [&'a [A]; GEMM_MAX_TOKENS] {
    std::array::from_fn(|i| rows.get(i).map_or(&[][..], |r| view(r)))
}

/// Bytes of a row of `n` elements of `ty`; panics if `n` is not a whole number of blocks.
#[inline]
pub(crate) fn row_bytes(ty: GgmlType, n: usize) -> usize {
    match ty.row_bytes(n) {
        Some(b) => b,
        None => panic!("{ty}: row length {n} is not a multiple of the block size {}", ty.block_size()),
    }
}
