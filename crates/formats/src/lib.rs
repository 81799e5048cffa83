//! allmende-formats: GGUF read/write, safetensors, Hugging Face model folders; hostile-input safe
