//! [`JsonGrammar`]: a compiled JSON schema, as a graph of nodes the recognizer walks.
//!
//! Nodes are stored in one arena and refer to each other by index, so recursive schemas (`$ref` cycles)
//! are plain cycles in the graph and nothing is expanded eagerly. Two analyses run once at compile time:
//!
//! - **minimum depth** (`md`): how many levels of objects/arrays the shallowest valid instance of a node
//!   needs (scalars 0, an object 1 + the deepest of its required properties, ...), or "none within
//!   [`MAX_DOC_DEPTH`]". The recognizer offers a value only where `depth + md <= MAX_DOC_DEPTH`, which is
//!   what guarantees that every accepted prefix can still be completed. It is the least fixed point of
//!   the defining equations, computed Dijkstra-style with one bucket per depth (each node is settled
//!   once, in order of increasing depth), so recursive schemas without a base case come out unsatisfiable.
//! - **alternatives** (`alts`): for every node, the concrete (non-union) satisfiable nodes it stands for,
//!   following `anyOf`/`$ref` edges. A union cycle (`A = anyOf[A, string]`) is just skipped, so the
//!   recognizer never loops while expanding a value.

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::SchemaError;
use super::{DEFAULT_MAX_WHITESPACE, MAX_DOC_DEPTH};

/// Index of a node in the grammar's arena.
pub(crate) type NodeId = u32;

/// Marks "no valid instance within the depth bound" in `md`.
pub(crate) const UNSAT: u8 = u8::MAX;

/// Most nodes in one grammar.
pub(crate) const MAX_NODES: usize = 16_384;
/// Most entries over all flattened alternative lists.
const MAX_ALTS_TOTAL: usize = 1 << 20;

/// One node of the grammar.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// A JSON object.
    Object(ObjectNode),
    /// A JSON array.
    Array(ArrayNode),
    /// A string with bounds on its length in code points (`max == u32::MAX`: unbounded).
    String {
        /// `minLength`.
        min: u32,
        /// `maxLength`.
        max: u32,
    },
    /// A number; `integer` allows no fraction and no exponent.
    Number {
        /// `type: integer`.
        integer: bool,
    },
    /// One of a set of exact texts (`enum`, `const`, `true`/`false`/`null`).
    Literals(LiteralSet),
    /// Any of the children (`anyOf`, `type` lists, `$ref`; no children: nothing is valid).
    Union(Vec<NodeId>),
}

/// The properties of an object schema, sorted by their canonical key text.
#[derive(Debug, Clone, Default)]
pub(crate) struct ObjectNode {
    /// Property names as serde_json writes them between the quotes, sorted bytewise.
    pub keys: Vec<Box<[u8]>>,
    /// [`key_hash`] of each property name (unescaped), to spot a free key that spells a property.
    pub key_hash: Vec<u64>,
    /// Schema of each property.
    pub values: Vec<NodeId>,
    /// Whether each property is required.
    pub required: Vec<bool>,
    /// Number of required properties.
    pub n_required: u32,
    /// Schema of keys that are not properties; `None`: no other keys (`additionalProperties: false`).
    pub additional: Option<NodeId>,
}

/// An array schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArrayNode {
    /// Schema of every item.
    pub items: NodeId,
    /// `minItems`.
    pub min: u32,
    /// `maxItems` (`u32::MAX`: unbounded).
    pub max: u32,
}

/// Exact texts, sorted bytewise and deduplicated.
#[derive(Debug, Clone)]
pub(crate) struct LiteralSet {
    /// Canonical compact JSON of each value.
    pub texts: Vec<Box<[u8]>>,
    /// Deepest nesting among the values (so the node is offered only where all of them fit).
    pub depth: u8,
}

/// FNV-1a over the unescaped bytes of a key; equal keys hash equal whatever their spelling.
pub(crate) const KEY_HASH_START: u64 = 0xcbf2_9ce4_8422_2325;

/// One step of the key hash.
pub(crate) fn key_hash_step(h: u64, b: u8) -> u64 {
    (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
}

/// Hash of a whole key.
pub(crate) fn key_hash(s: &str) -> u64 {
    s.bytes().fold(KEY_HASH_START, key_hash_step)
}

/// A compiled JSON grammar: build with [`JsonGrammar::any_object`] or [`JsonGrammar::from_schema`] and
/// recognize output with [`crate::constrain::JsonState`]. Immutable and `Send + Sync`; share it behind an
/// `Arc` between requests that use the same schema.
#[derive(Debug, Clone)]
pub struct JsonGrammar {
    /// Unique per compiled grammar, so a state is never run against another grammar's nodes.
    pub(crate) id: u64,
    pub(crate) nodes: Vec<Node>,
    /// Minimum depth of each node ([`UNSAT`]: none).
    md: Vec<u8>,
    /// Concrete satisfiable alternatives of each node.
    alts: Vec<Box<[NodeId]>>,
    pub(crate) root: NodeId,
    pub(crate) max_ws: u8,
}

impl JsonGrammar {
    /// `response_format: {"type": "json_object"}`: any JSON object, nested to any depth up to
    /// [`MAX_DOC_DEPTH`], any keys (no duplicates), any values.
    pub fn any_object() -> Self {
        let mut b = Builder::default();
        // The arena is tiny and fixed, so these pushes cannot hit MAX_NODES.
        let any = b.reserve();
        let object = b.push_unchecked(Node::Object(ObjectNode {
            additional: Some(any),
            ..ObjectNode::default()
        }));
        let array = b.push_unchecked(Node::Array(ArrayNode {
            items: any,
            min: 0,
            max: u32::MAX,
        }));
        let string = b.push_unchecked(Node::String {
            min: 0,
            max: u32::MAX,
        });
        let number = b.push_unchecked(Node::Number { integer: false });
        let words = b.push_unchecked(Node::Literals(LiteralSet {
            texts: ["false", "null", "true"]
                .iter()
                .map(|t| t.as_bytes().into())
                .collect(),
            depth: 0,
        }));
        b.nodes[any as usize] = Node::Union(vec![object, array, string, number, words]);
        // The object node has a valid instance (`{}`), so finishing cannot fail; fall back to an
        // equivalent hand-built grammar shape anyway rather than panicking.
        match b.finish(object) {
            Ok(g) => g,
            Err(_) => unreachable_grammar(),
        }
    }

    /// Compiles an OpenAI `json_schema` schema; see [`crate::constrain::schema`] for the subset.
    pub fn from_schema(schema: &serde_json::Value) -> Result<Self, SchemaError> {
        super::schema::compile(schema)
    }

    /// Sets the bound on consecutive whitespace bytes outside strings (default
    /// [`crate::constrain::DEFAULT_MAX_WHITESPACE`]; 0 forces compact JSON).
    pub fn with_max_whitespace(mut self, n: u8) -> Self {
        self.max_ws = n;
        self
    }

    /// The bound on consecutive whitespace bytes outside strings.
    pub fn max_whitespace(&self) -> u8 {
        self.max_ws
    }

    /// Number of nodes (a size measure for logs).
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// Concrete satisfiable alternatives of `id`.
    pub(crate) fn alts(&self, id: NodeId) -> &[NodeId] {
        &self.alts[id as usize]
    }

    /// Whether a value of node `id` can still be completed when it starts inside `depth` open containers.
    pub(crate) fn fits(&self, depth: u8, id: NodeId) -> bool {
        let m = self.md[id as usize];
        m != UNSAT && u16::from(depth) + u16::from(m) <= u16::from(MAX_DOC_DEPTH)
    }
}

/// `any_object` cannot fail to finish; this keeps library code free of `expect`.
fn unreachable_grammar() -> JsonGrammar {
    JsonGrammar {
        id: next_id(),
        nodes: vec![Node::Object(ObjectNode::default())],
        md: vec![1],
        alts: vec![Box::new([0])],
        root: 0,
        max_ws: DEFAULT_MAX_WHITESPACE,
    }
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Collects nodes, then runs the analyses.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    pub nodes: Vec<Node>,
}

impl Builder {
    /// Adds a node, refusing to grow past [`MAX_NODES`].
    pub fn push(&mut self, node: Node, pointer: &str) -> Result<NodeId, SchemaError> {
        if self.nodes.len() >= MAX_NODES {
            return Err(SchemaError::TooLarge {
                pointer: pointer.to_string(),
                what: "compiled nodes",
                limit: MAX_NODES,
            });
        }
        Ok(self.push_unchecked(node))
    }

    fn push_unchecked(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        (self.nodes.len() - 1) as NodeId
    }

    /// A placeholder (an empty union) to be overwritten once its contents are compiled.
    pub fn reserve(&mut self) -> NodeId {
        self.push_unchecked(Node::Union(Vec::new()))
    }

    /// Runs the analyses. Fails (with the root's id) when the root has no valid instance.
    pub fn finish(self, root: NodeId) -> Result<JsonGrammar, FinishError> {
        let md = min_depths(&self.nodes);
        if md[root as usize] == UNSAT {
            return Err(FinishError::Unsatisfiable);
        }
        let alts = flatten(&self.nodes, &md).ok_or(FinishError::TooLarge)?;
        Ok(JsonGrammar {
            id: next_id(),
            nodes: self.nodes,
            md,
            alts,
            root,
            max_ws: DEFAULT_MAX_WHITESPACE,
        })
    }
}

/// Why [`Builder::finish`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FinishError {
    /// The root has no valid instance within the depth bound.
    Unsatisfiable,
    /// The flattened alternatives exceed their bound.
    TooLarge,
}

/// Least fixed point of the minimum-depth equations (see the module docs).
fn min_depths(nodes: &[Node]) -> Vec<u8> {
    let n = nodes.len();
    let max = usize::from(MAX_DOC_DEPTH);
    let mut md = vec![UNSAT; n];
    let mut pending = vec![0u32; n];
    let mut edges: Vec<(NodeId, NodeId)> = Vec::new(); // (child, parent)
    let mut buckets: Vec<Vec<NodeId>> = vec![Vec::new(); max + 2];
    for (i, node) in nodes.iter().enumerate() {
        let i = i as NodeId;
        match node {
            Node::Object(o) => {
                let mut count = 0;
                for (v, &r) in o.values.iter().zip(&o.required) {
                    if r {
                        edges.push((*v, i));
                        count += 1;
                    }
                }
                pending[i as usize] = count;
                if count == 0 {
                    buckets[1].push(i);
                }
            }
            Node::Array(a) => {
                if a.min == 0 {
                    buckets[1].push(i);
                } else if a.min <= a.max {
                    edges.push((a.items, i));
                }
            }
            Node::String { min, max } => {
                if min <= max {
                    buckets[0].push(i);
                }
            }
            Node::Number { .. } => buckets[0].push(i),
            Node::Literals(l) => {
                if !l.texts.is_empty() && usize::from(l.depth) <= max {
                    buckets[usize::from(l.depth)].push(i);
                }
            }
            Node::Union(children) => {
                for &c in children {
                    edges.push((c, i));
                }
            }
        }
    }
    edges.sort_unstable();
    let mut start = vec![0usize; n + 1];
    for &(c, _) in &edges {
        start[c as usize + 1] += 1;
    }
    for k in 0..n {
        start[k + 1] += start[k];
    }
    for v in 0..=max {
        let mut k = 0;
        while k < buckets[v].len() {
            let x = buckets[v][k] as usize;
            k += 1;
            if md[x] != UNSAT {
                continue;
            }
            md[x] = v as u8;
            for &(_, p) in &edges[start[x]..start[x + 1]] {
                let pi = p as usize;
                if md[pi] != UNSAT {
                    continue;
                }
                match &nodes[pi] {
                    Node::Union(_) => buckets[v].push(p),
                    Node::Object(_) => {
                        pending[pi] -= 1;
                        if pending[pi] == 0 {
                            buckets[v + 1].push(p);
                        }
                    }
                    _ => buckets[v + 1].push(p),
                }
            }
        }
    }
    md
}

/// The concrete satisfiable nodes each node stands for; `None` past [`MAX_ALTS_TOTAL`].
fn flatten(nodes: &[Node], md: &[u8]) -> Option<Vec<Box<[NodeId]>>> {
    let mut out = Vec::with_capacity(nodes.len());
    let mut seen = vec![u32::MAX; nodes.len()];
    let mut stack = Vec::new();
    let mut total = 0usize;
    for (i, node) in nodes.iter().enumerate() {
        let list: Box<[NodeId]> = match node {
            Node::Union(_) => {
                let mut list = Vec::new();
                stack.clear();
                stack.push(i as NodeId);
                seen[i] = i as u32;
                while let Some(x) = stack.pop() {
                    match &nodes[x as usize] {
                        // Children in reverse so that the first branch is explored first.
                        Node::Union(ch) => {
                            for &c in ch.iter().rev() {
                                if seen[c as usize] != i as u32 {
                                    seen[c as usize] = i as u32;
                                    stack.push(c);
                                }
                            }
                        }
                        _ => {
                            if md[x as usize] != UNSAT {
                                list.push(x);
                            }
                        }
                    }
                }
                list.into()
            }
            _ if md[i] != UNSAT => Box::new([i as NodeId]),
            _ => Box::new([]),
        };
        total += list.len();
        if total > MAX_ALTS_TOTAL {
            return None;
        }
        out.push(list);
    }
    Some(out)
}
