//! allmende-engine: Generation: sampler chain, stop strings, sessions over a loaded model
