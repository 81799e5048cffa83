//! allmende-templates: Jinja chat templates rendered as transformers' `apply_chat_template` renders them.
//!
//! transformers (5.24, `utils/chat_template_utils.py`) compiles a chat template in a jinja2
//! `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)` with `loopcontrols` and its
//! `{% generation %}` extension, replaces the `tojson` filter with `json.dumps(..., ensure_ascii=False)`,
//! adds the globals `raise_exception`, `strftime_now`, `dict` and `namespace`, and renders with
//! `messages`, `tools`, `documents`, `add_generation_prompt`, the tokenizer's special tokens and any
//! extra keyword arguments. Before that it drops `None`-valued message keys and copies a message's
//! reasoning to both `reasoning_content` and `thinking`.
//!
//! This crate reproduces that on minijinja, byte for byte: values print with Python's `str()`
//! (`pystr.rs`), strings/dicts/lists have Python's methods (`methods.rs`), operators follow Python
//! (`ops.rs`), filters and tests follow jinja2 (`filters.rs`), and the template text is prepared so
//! minijinja gives it jinja2's meaning (`lexical.rs`, `rewrite.rs`). What cannot be matched fails
//! with a [`TemplateError`] (usually [`TemplateError::Unsupported`]) rather than rendering a
//! different prompt.
//!
//! Tests: `tests/golden.rs` renders 64 real chat templates on 12 conversations each and compares
//! byte for byte with transformers' output; `tests/probes.rs` pins ~120 jinja2/Python semantics.
//! Both read `tests/fixtures/expected.json`, written by `tests/gen_expected.py` (jinja2 3.1.6, with an
//! optional cross-check against the real transformers `render_jinja_template`).
//!
//! ```
//! use allmende_templates::{ChatTemplate, Message, RenderInput};
//! let t = ChatTemplate::new("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}").unwrap();
//! let input = RenderInput::new(vec![Message::new("user", "hi").into()]);
//! assert_eq!(t.render(&input).unwrap(), "<user>hi");
//! ```

mod clock;
mod error;
mod error_marker;
mod filters;
mod format;
mod lexical;
mod methods;
mod ops;
mod pyjson;
mod pyobjects;
mod pystr;
mod rewrite;

use std::collections::BTreeMap;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};

pub use chrono::NaiveDateTime;
pub use clock::Clock;
pub use error::TemplateError;

use error_marker::{raised, to_template_error, unsupported};

const TEMPLATE_NAME: &str = "chat_template";

/// A chat message with plain-text content (a convenience; [`RenderInput::messages`] takes any JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant`, `tool`, ...
    pub role: String,
    /// The message text.
    pub content: String,
}

impl Message {
    /// A message with `role` and `content`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }
}

impl From<Message> for serde_json::Value {
    fn from(m: Message) -> Self {
        serde_json::json!({"role": m.role, "content": m.content})
    }
}

/// Everything a chat template is rendered with.
#[derive(Debug, Clone, Default)]
pub struct RenderInput {
    /// The conversation: objects with `role`, `content` (a string or a list of parts),
    /// `tool_calls`, `reasoning_content`, ... as the OpenAI/HF chat format has them.
    pub messages: Vec<serde_json::Value>,
    /// Tool (function) JSON schemas; `None` renders `tools` as Python `None`.
    pub tools: Option<Vec<serde_json::Value>>,
    /// RAG documents (objects with `title`, `text`); `None` renders `documents` as `None`.
    pub documents: Option<Vec<serde_json::Value>>,
    /// Append the assistant header so the model answers next.
    pub add_generation_prompt: bool,
    /// `bos_token` from the tokenizer config, if it has one.
    pub bos_token: Option<String>,
    /// `eos_token` from the tokenizer config, if it has one.
    pub eos_token: Option<String>,
    /// `unk_token` from the tokenizer config, if it has one.
    pub unk_token: Option<String>,
    /// `pad_token` from the tokenizer config, if it has one.
    pub pad_token: Option<String>,
    /// Extra template variables (`enable_thinking`, `reasoning_effort`, ...); they override the
    /// special tokens, as transformers' `**kwargs` do.
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Time source of `strftime_now`.
    pub clock: Clock,
}

impl RenderInput {
    /// Input with these messages and everything else default (no tools, no generation prompt).
    pub fn new(messages: Vec<serde_json::Value>) -> Self {
        RenderInput {
            messages,
            ..Default::default()
        }
    }
}

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles `source` (a `chat_template` string from `tokenizer_config.json` or a `.jinja` file).
    pub fn new(source: &str) -> Result<ChatTemplate, TemplateError> {
        let prepared = rewrite::prepare(source)?;
        let mut env = build_environment();
        env.add_template_owned(TEMPLATE_NAME, prepared)
            .map_err(|e| TemplateError::Syntax(e.to_string()))?;
        Ok(ChatTemplate { env })
    }

    /// Renders the conversation to the prompt text.
    pub fn render(&self, input: &RenderInput) -> Result<String, TemplateError> {
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| TemplateError::Syntax(e.to_string()))?;
        let ctx = build_context(input)?;
        template.render(ctx).map_err(|e| to_template_error(&e))
    }
}

/// The environment transformers builds, on an empty minijinja environment.
fn build_environment() -> Environment<'static> {
    let mut env = Environment::empty();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(false);
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_unknown_method_callback(methods::call_method);
    env.set_formatter(|out, _state, value| {
        if let Some(ty) = pystr::unprintable(value) {
            return Err(unsupported(format!(
                "printing a Python {ty} object (its text is a memory address)"
            )));
        }
        out.write_str(&pystr::py_str(value))
            .map_err(|_| Error::from(ErrorKind::WriteFailure))
    });
    filters::register(&mut env);
    env.add_function(
        "raise_exception",
        |msg: Option<Value>| -> Result<Value, Error> {
            Err(raised(msg.map(|m| pystr::py_str(&m)).unwrap_or_default()))
        },
    );
    env.add_function(rewrite::OP_FN, ops::py_op);
    env.add_function(rewrite::CHAIN_FN, |args: minijinja::value::Rest<Value>| {
        ops::py_chain(&args)
    });
    env.add_function(rewrite::METHOD_FN, call_method);
    env.add_function(rewrite::SLICE_FN, ops::py_slice);
    env.add_function(rewrite::GETATTR_FN, getattr);
    env.add_function(rewrite::TUPLE_FN, |items: Value| -> Result<Value, Error> {
        Ok(pyobjects::PyTuple::value(items.try_iter()?.collect()))
    });
    env.add_function("range", minijinja::functions::range);
    for name in ["cycler", "joiner", "lipsum"] {
        env.add_function(
            name,
            move |_: minijinja::value::Rest<Value>| -> Result<Value, Error> {
                Err(unsupported(format!(
                    "the jinja2 global `{name}()` is not implemented"
                )))
            },
        );
    }
    env.add_function("dict", minijinja::functions::dict);
    env.add_function("namespace", namespace);
    env.add_function(
        rewrite::GENERATION_FN,
        |state: &State, kwargs: Kwargs| -> Result<Value, Error> {
            let caller: Value = kwargs.get("caller")?;
            kwargs.assert_all_used()?;
            caller.call(state, &[])
        },
    );
    env
}

/// `obj.name(args)` with Python's lookup order: a `dict`/`str`/`list` method of that name wins over a
/// dict key; other objects (loop, namespace, macros) keep minijinja's method call.
fn call_method(
    state: &State,
    obj: Value,
    name: &str,
    args: minijinja::value::Rest<Value>,
) -> Result<Value, Error> {
    if obj.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!("cannot call `{name}` on an undefined value"),
        ));
    }
    let pythonic =
        pyobjects::is_dict(&obj) || matches!(obj.kind(), ValueKind::String | ValueKind::Seq);
    if pythonic {
        match methods::call_method(state, &obj, name, &args) {
            Err(e) if e.kind() == ErrorKind::UnknownMethod && pyobjects::is_dict(&obj) => {
                // jinja2 falls back to the item: a callable stored under that key.
                let item = obj.get_item(&Value::from(name))?;
                if item.is_undefined() {
                    return Err(e);
                }
                item.call(state, &args)
            }
            other => other,
        }
    } else {
        obj.call_method(state, name, &args)
    }
}

/// `obj.name` (not called) where `name` is a Python method name: the bound method when `obj` has
/// that method in Python, else the usual attribute/item lookup.
fn getattr(obj: Value, name: &str) -> Result<Value, Error> {
    if obj.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!("undefined value has no attribute `{name}`"),
        ));
    }
    if methods::has_method(&obj, name) {
        return Ok(Value::from_object(pyobjects::BoundMethod {
            obj,
            name: name.to_string(),
        }));
    }
    obj.get_attr(name)
}

/// transformers' `TemplateNamespace`: a jinja2 namespace that refuses `_`-prefixed attributes.
fn namespace(args: minijinja::value::Rest<Value>) -> Result<Value, Error> {
    if args.len() > 1 {
        return Err(unsupported(
            "namespace() with more than one positional argument".into(),
        ));
    }
    if let Some(arg) = args.first() {
        if let Ok(iter) = arg.try_iter() {
            for key in iter {
                if key.as_str().is_some_and(|k| k.starts_with('_')) {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!(
                            "Chat templates cannot store underscore-prefixed attributes on a namespace, but got {}. \
                             Please rename the attribute.",
                            pystr::py_repr(&key)
                        ),
                    ));
                }
            }
        }
    }
    minijinja::functions::namespace(args.first().cloned())
}

const REASONING_FIELDS: [&str; 3] = ["reasoning_content", "thinking", "reasoning"];

/// transformers' `_normalize_chat_messages` (drop `None`-valued keys) then `_alias_reasoning_fields`
/// (`{"thinking": r, **message, "reasoning_content": r}`).
fn prepare_message(message: &serde_json::Value) -> Result<serde_json::Value, TemplateError> {
    let obj = message.as_object().ok_or_else(|| {
        TemplateError::Input(format!("Chat messages should be dicts, but got {message}"))
    })?;
    let mut m: serde_json::Map<String, serde_json::Value> = obj
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let reasoning = REASONING_FIELDS.iter().find_map(|k| m.get(*k).cloned());
    if let Some(r) = reasoning {
        let mut aliased = serde_json::Map::new();
        aliased.insert("thinking".into(), r.clone());
        for (k, v) in std::mem::take(&mut m) {
            aliased.insert(k, v);
        }
        aliased.insert("reasoning_content".into(), r);
        m = aliased;
    }
    Ok(serde_json::Value::Object(m))
}

fn build_context(input: &RenderInput) -> Result<Value, TemplateError> {
    let messages = input
        .messages
        .iter()
        .map(prepare_message)
        .collect::<Result<Vec<_>, _>>()?;
    let mut ctx: BTreeMap<String, Value> = BTreeMap::new();
    ctx.insert("messages".into(), Value::from_serialize(&messages));
    ctx.insert("tools".into(), Value::from_serialize(&input.tools));
    ctx.insert("documents".into(), Value::from_serialize(&input.documents));
    ctx.insert(
        "add_generation_prompt".into(),
        Value::from(input.add_generation_prompt),
    );
    let clock = input.clock;
    ctx.insert(
        "strftime_now".into(),
        Value::from_function(move |format: &str| -> Result<String, Error> {
            clock::strftime(clock.now(), format).map_err(unsupported)
        }),
    );
    let specials = [
        ("bos_token", &input.bos_token),
        ("eos_token", &input.eos_token),
        ("unk_token", &input.unk_token),
        ("pad_token", &input.pad_token),
    ];
    for (name, token) in specials {
        if let Some(t) = token {
            ctx.insert(name.into(), Value::from(t.as_str()));
        }
    }
    for (k, v) in &input.extra {
        if matches!(
            k.as_str(),
            "messages" | "tools" | "documents" | "add_generation_prompt"
        ) {
            return Err(TemplateError::Input(format!(
                "extra template variable `{k}` collides with an argument of apply_chat_template"
            )));
        }
        ctx.insert(k.clone(), Value::from_serialize(v));
    }
    Ok(Value::from(ctx))
}
