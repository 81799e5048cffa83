//! allmende-templates: Jinja chat templates rendered as transformers' apply_chat_template renders them
