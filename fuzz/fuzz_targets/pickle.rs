//! Fuzz target: the pickle walker, the auditor and the PyTorch checkpoint reader on arbitrary
//! bytes must return, never panic. The audit and the walker agree on where a well-formed
//! pickle ends; accepted checkpoints hold tensors whose byte length matches dtype and shape.
#![no_main]

use allmende_formats::pickle::{audit, read_checkpoint, walk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let a = audit(data);
    let walked = walk(data);
    if a.error.is_none() {
        let (_, end) = walked.expect("an audited pickle walks");
        assert_eq!(end, a.end);
    } else if let Ok((_, end)) = walked {
        // The walk can succeed where the stack machine fails (bad stack shapes), never the
        // other way round; the machine stops before the end then.
        assert!(a.end < end);
    }
    if let Ok(f) = read_checkpoint(data) {
        for t in f.tensors() {
            assert_eq!(t.data.len(), t.n_elements() * t.dtype.size());
        }
    }
});
