//! allmende-models: Architectures as data: the decoder spec, one generic decoder, weight loading from GGUF and HF folders
