#!/usr/bin/env python3
"""Generate tests/fixtures/expected.json: every chat template rendered on a fixed set of conversations.

Reference: transformers 5.24.0 `src/transformers/utils/chat_template_utils.py`
(`_cached_compile_jinja_template`, `_alias_reasoning_fields`, `render_jinja_template`) and
`tokenization_utils_base.py` (`apply_chat_template`: `_normalize_chat_messages`, then
`template_kwargs = {**special_tokens_map, **kwargs}`).

This script rebuilds that environment with jinja2 only (pin: jinja2==3.1.6), so that the Rust test
can compare byte for byte without needing transformers:

  * `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
    extensions=[AssistantTracker, jinja2.ext.loopcontrols])`; the `{% generation %}` tag renders its body.
  * filter `tojson` = `json.dumps(x, ensure_ascii=False, indent=..., separators=..., sort_keys=...)`.
  * globals `raise_exception`, `strftime_now` (here with a FIXED clock, 2026-01-15 09:30:05),
    `dict` (TemplateDict) and `namespace` (TemplateNamespace, which rejects `_`-prefixed names).
  * messages: keys whose value is None are dropped, then reasoning is aliased to
    `thinking`/`reasoning_content`.
  * render kwargs: messages, tools (None when absent), documents (None), add_generation_prompt,
    bos_token/eos_token/unk_token/pad_token, then the extra kwargs of the case.

Usage:  pip install jinja2==3.1.6 && python3 crates/templates/tests/gen_expected.py
Optional: `--check-transformers` also renders through the installed transformers'
`render_jinja_template` (with its clock patched) and asserts identical output.
"""

import copy
import json
import sys
from datetime import datetime
from pathlib import Path

import jinja2
import jinja2.ext
import jinja2.utils
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = Path(__file__).resolve().parent
TEMPLATE_DIR = HERE / "fixtures" / "templates"
OUT = HERE / "fixtures" / "expected.json"

FIXED_NOW = datetime(2026, 1, 15, 9, 30, 5)
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}

assert jinja2.__version__ == "3.1.6", f"need jinja2 3.1.6, have {jinja2.__version__}"


def build_env():
    class AssistantTracker(Extension):
        # `{% generation %}...{% endgeneration %}` renders its body unchanged (tracking is off in apply_chat_template
        # unless return_assistant_tokens_mask is set, and it never changes the text).
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

        @jinja2.pass_eval_context
        def _generation_support(self, context, caller):
            return caller()

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return FIXED_NOW.strftime(format)

    class TemplateDict:
        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    class TemplateNamespace(jinja2.utils.Namespace):
        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check_name(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(
                    f"Chat templates cannot store underscore-prefixed attributes on a namespace, but got {name!r}. "
                    "Please rename the attribute."
                )

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["dict"] = TemplateDict()
    env.globals["namespace"] = TemplateNamespace
    return env


REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


def prepare_messages(messages):
    """transformers' `_normalize_chat_messages` followed by `_alias_reasoning_fields`."""
    out = []
    for message in copy.deepcopy(messages):
        message = {k: v for k, v in message.items() if v is not None}
        reasoning = next((message[k] for k in REASONING_FIELDS if message.get(k) is not None), None)
        if reasoning is not None:
            message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        out.append(message)
    return out


SYSTEM = "You are a helpful assistant."
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city (uses <metric> & 'SI' units).",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Paris"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    }
]
# A richer schema: array parameter (a dict with an `items` key), defaults of several types,
# `format`/`title` keys, a nested object, a nullable union type.
TOOLS_RICH = TOOLS + [
    {
        "type": "function",
        "function": {
            "name": "book_flights",
            "description": "Book flights.\nReturns a confirmation code.",
            "parameters": {
                "type": "object",
                "properties": {
                    "legs": {
                        "type": "array",
                        "description": "Flight legs",
                        "items": {"type": "object", "properties": {"from": {"type": "string"}, "to": {"type": "string"}}},
                    },
                    "date": {"type": "string", "format": "date", "title": "Date"},
                    "passengers": {"type": "integer", "default": 1, "minimum": 1},
                    "refundable": {"type": "boolean", "default": False},
                    "seat": {"type": ["string", "null"], "default": None},
                    "budget": {"type": "number", "default": 99.5},
                },
                "required": ["legs", "date"],
            },
        },
    }
]

# Each case: messages, tools, add_generation_prompt, extra kwargs.
CASES = {
    "user_only": {
        "messages": [{"role": "user", "content": "Hello! How are you?"}],
        "add_generation_prompt": True,
    },
    "system_user": {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        "add_generation_prompt": True,
    },
    "multi_turn": {
        "messages": [
            {"role": "user", "content": "Hi there."},
            {"role": "assistant", "content": "Hello! How can I help you today?"},
            {"role": "user", "content": "Tell me a joke about cats."},
        ],
        "add_generation_prompt": True,
    },
    "system_multi_turn_no_gen": {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": "2 + 2 = 4."},
        ],
        "add_generation_prompt": False,
    },
    "tool_call": {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "What's the weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call12345",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "call12345",
                "name": "get_weather",
                "content": '{"temperature": 18, "condition": "cloudy"}',
            },
        ],
        "tools": TOOLS,
        "add_generation_prompt": True,
    },
    "content_parts": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe the weather"},
                    {"type": "text", "text": " in one sentence."},
                ],
            }
        ],
        "add_generation_prompt": True,
    },
    "tool_calls_string_args": {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Weather in Paris and Oslo, then book Paris to Oslo on 2026-02-01."},
            {
                "role": "assistant",
                "content": "Let me check both cities.",
                "tool_calls": [
                    {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
                    {"id": "call67890", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo", "unit": "celsius"}'}},
                ],
            },
            {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "18C, cloudy"},
            {"role": "tool", "tool_call_id": "call67890", "name": "get_weather", "content": "-3C, snow"},
            {"role": "assistant", "content": "Paris: 18C and cloudy. Oslo: -3C with snow."},
            {"role": "user", "content": "Great, book it."},
        ],
        "tools": TOOLS_RICH,
        "add_generation_prompt": True,
    },
    "parallel_tool_calls": {
        "messages": [
            {"role": "user", "content": "Book Paris to Oslo on 2026-02-01 for 2 and check Oslo's weather."},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call00001",
                        "type": "function",
                        "function": {
                            "name": "book_flights",
                            "arguments": {
                                "legs": [{"from": "Paris", "to": "Oslo"}],
                                "date": "2026-02-01",
                                "passengers": 2,
                                "refundable": True,
                                "seat": None,
                                "budget": 250.0,
                            },
                        },
                    },
                    {"id": "call00002", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
                ],
            },
            {"role": "tool", "tool_call_id": "call00001", "name": "book_flights", "content": '{"code": "XK42"}'},
            {"role": "tool", "tool_call_id": "call00002", "name": "get_weather", "content": "-3C, snow"},
        ],
        "tools": TOOLS_RICH,
        "add_generation_prompt": True,
    },
    "documents": {
        "messages": [{"role": "user", "content": "What do the documents say about tides?"}],
        "documents": [
            {"title": "Tides", "text": "Tides are caused by the Moon's gravity."},
            {"title": "Spring tides", "text": "Spring tides happen at new and full moon."},
        ],
        "add_generation_prompt": True,
    },
    "thinking_enabled": {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Is 17 prime?"},
            {"role": "assistant", "reasoning_content": "Check divisors up to 4.", "content": "Yes, 17 is prime."},
            {"role": "user", "content": "And 21?"},
        ],
        "add_generation_prompt": True,
        "extra": {"enable_thinking": True, "reasoning_effort": "high"},
    },
    "multimodal": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image"},
                    {"type": "text", "text": "What is in this picture?"},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "A cat on a sofa."}]},
            {"role": "user", "content": [{"type": "text", "text": "What color is it?"}]},
        ],
        "add_generation_prompt": True,
    },
    "empty_conversation": {"messages": [], "add_generation_prompt": True},
    "system_only": {"messages": [{"role": "system", "content": "  Be terse.\n"}], "add_generation_prompt": False},
    "odd_values": {
        "messages": [
            {"role": "user", "content": 3.5, "name": None},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "arguments": {"city": "Zürich", "days": [1, 2.0, None, True], "opts": {}},
                        },
                    }
                ],
            },
            {"role": "tool", "content": ""},
            {"role": "user", "content": "  trailing spaces and\ttabs\t \n"},
        ],
        "tools": TOOLS,
        "add_generation_prompt": True,
        "extra": {"enable_thinking": None, "custom_flag": [1, "x"]},
    },
    "thinking_unicode": {
        "messages": [
            {"role": "user", "content": "Grüße! Was ist 2+2? 👋"},
            {"role": "assistant", "reasoning_content": "Simple arithmetic: 2+2=4.", "content": "Es ist 4."},
            {"role": "user", "content": "Danke <&> 'single' \"double\" — ça va?"},
        ],
        "add_generation_prompt": True,
        "extra": {"enable_thinking": False},
    },
}


def render(env_template, case):
    kwargs = {**SPECIAL_TOKENS, **case.get("extra", {})}
    return env_template.render(
        messages=prepare_messages(case["messages"]),
        tools=copy.deepcopy(case.get("tools")),
        documents=copy.deepcopy(case.get("documents")),
        add_generation_prompt=case["add_generation_prompt"],
        **kwargs,
    )


def outcome(fn):
    try:
        return {"ok": fn()}
    except Exception as e:  # noqa: BLE001 - every failure is an expected outcome
        return {"error": str(e), "error_type": type(e).__name__}


def check_against_transformers(name, source, case, result):
    import transformers.utils.chat_template_utils as ctu

    class FixedDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return FIXED_NOW

    ctu.datetime = FixedDatetime
    from transformers.utils.chat_template_utils import _normalize_chat_messages, render_jinja_template

    def via_transformers():
        conv = _normalize_chat_messages(copy.deepcopy(case["messages"]))
        rendered, _ = render_jinja_template(
            conversations=[conv],
            tools=copy.deepcopy(case.get("tools")),
            documents=copy.deepcopy(case.get("documents")),
            chat_template=source,
            add_generation_prompt=case["add_generation_prompt"],
            **{**SPECIAL_TOKENS, **case.get("extra", {})},
        )
        return rendered[0]

    theirs = outcome(via_transformers)
    if ("ok" in theirs) != ("ok" in result) or theirs.get("ok") != result.get("ok"):
        raise SystemExit(f"mismatch with transformers for {name}: ours={result!r} theirs={theirs!r}")


# Small snippets pinning down Python/jinja2 semantics the chat templates rely on (and some they might).
# Each: (name, template, context). Rendered in the same environment; errors are recorded too.
PROBE_CTX = {
    "s": "  Hello, World!  ",
    "n": None,
    "t": True,
    "f": 2.5,
    "i": 7,
    "lst": [1, "a", None, True, 2.0],
    "d": {"b": 1, "a": [1, 2], "c": {"x": None}},
    "msgs": [{"role": "system", "content": "S"}, {"role": "user", "content": "U1"}, {"role": "user", "content": "U2"}],
    "uni": "Grüße 👋 <&>'\"",
    "empty": [],
}
PROBES = [
    ("print_scalars", "{{ n }}|{{ t }}|{{ f }}|{{ i }}|{{ 1e-5 }}|{{ 1e16 }}|{{ 0.1 + 0.2 }}|{{ 10 / 4 }}|{{ 10 // 4 }}|{{ -7 // 2 }}|{{ 7 % -3 }}|{{ 2 ** 10 }}"),
    ("print_containers", "{{ lst }}|{{ d }}|{{ (1, 'a') }}|{{ (1,) }}|{{ [] }}|{{ {} }}|{{ uni }}|{{ [uni] }}"),
    ("print_undefined", "[{{ missing }}][{{ n.x }}][{{ d.zz }}][{{ 'abc'.nope }}]"),
    ("tilde", "{{ 'x' ~ n ~ t ~ f ~ i ~ lst ~ d ~ missing ~ (1, 2) }}"),
    ("tilde_precedence", "{{ 1 + 2 ~ 3 * 4 }}|{{ 'a' ~ 'b' | upper }}|{{ ('a' ~ 'b') | upper }}|{{ ((n)) ~ ('x') }}"),
    ("plus_str", "{{ 'a' + 'b' }}|{{ i + f }}|{{ t + 1 }}|{{ [1] + [2] }}"),
    ("plus_str_list", "{{ 'a' + lst }}"),
    ("plus_none", "{{ 'a' + n }}"),
    ("plus_undefined", "{{ 'a' + missing }}"),
    ("markup_add", "{{ 'a<'|safe + '<b>&' }}|{{ '<x>' + '\\'<y>'|safe }}|{{ ('q'|safe ~ '<') }}|{{ ('<'|safe).upper() }}"),
    ("str_mul", "{{ 'ab' * 3 }}|{{ '=' * 0 }}"),
    ("str_mod", "{{ '%s-%d' % ('a', 3) }}"),
    ("in_ops", "{{ 'ell' in s }}|{{ 1 in lst }}|{{ 'b' in d }}|{{ 'zz' not in d }}|{{ 'x' in missing }}"),
    ("in_none", "{{ 'x' in n }}"),
    ("in_str_int", "{{ 1 in 'abc' }}"),
    ("compare", "{{ 1 == 1.0 }}|{{ t == 1 }}|{{ 'a' < 'b' }}|{{ [1, 2] == [1, 2] }}|{{ n == none }}|{{ n is none }}|{{ missing == none }}"),
    ("compare_mixed", "{{ 1 < 'a' }}"),
    ("str_methods", "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ s.strip(' H!') }}|{{ s.upper() }}|{{ s.lower() }}|{{ s.title() }}|{{ 'hello wORLD'.capitalize() }}|{{ s.replace('l', 'L', 2) }}"),
    ("str_split", "{{ s.split() }}|{{ s.split(',') }}|{{ 'a,b,,c'.split(',', 1) }}|{{ 'a b  c'.rsplit(None, 1) }}|{{ 'l1\\nl2\\r\\nl3'.splitlines() }}|{{ ''.split() }}|{{ 'x</think>y</think>z'.split('</think>')[-1] }}"),
    ("str_find", "{{ s.find('o') }}|{{ s.rfind('o') }}|{{ uni.find('👋') }}|{{ s.count('l') }}|{{ s.startswith('  H') }}|{{ s.endswith(('x', '  ')) }}|{{ s.index('W') }}"),
    ("str_misc", "{{ 'a-b'.partition('-') }}|{{ '42'.zfill(5) }}|{{ 'ab'.center(7, '*') }}|{{ 'ab'.ljust(4, '.') }}|{{ '12'.isdigit() }}|{{ 'ab'.isalpha() }}|{{ ' '.isspace() }}|{{ ','.join(['a', 'b']) }}|{{ 'Ab'.swapcase() }}|{{ 'prefix_x'.removeprefix('prefix_') }}"),
    ("str_format", "{{ '<{}|{}>'.format('a', 1) }}|{{ '{0}{1}{0}'.format('x', n) }}|{{ '{name}!'.format(name='N') }}|{{ '{{lit}}'.format() }}|{{ '{!r}'.format('q') }}"),
    ("slices", "{{ msgs[1:]|length }}|{% if msgs[5:] %}y{% else %}n{% endif %}|{{ lst[::2] }}|{{ lst[10:] }}|{{ s[-3:] }}|{{ (1, 2, 3)[1:] }}|{{ lst[:-1][-1] }}"),
    ("slice_step_zero", "{{ lst[::0] }}"),
    ("slice_none", "{{ n[1:] }}"),
    ("str_index_slice", "{{ uni[0] }}|{{ uni[-1] }}|{{ s[2:7] }}|{{ s[::-1] }}|{{ lst[1:3] }}|{{ lst[-2:] }}|{{ msgs[1:]|length }}"),
    ("dict_methods", "{{ d.get('a') }}|{{ d.get('zz') }}|{{ d.get('zz', 5) }}|{{ d.items() }}|{{ d.keys() }}|{{ d.values()|list }}|{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}"),
    ("dict_items_json", "{{ d.items()|tojson }}"),
    ("list_methods", "{{ lst.count(1) }}|{{ lst.index('a') }}"),
    ("list_append", "{% set x = [1] %}{{ x.append(2) }}{{ x }}"),
    ("dict_update", "{% set x = {} %}{{ x.update({'a': 1}) }}"),
    ("tojson_basic", "{{ d|tojson }}|{{ lst|tojson }}|{{ uni|tojson }}|{{ n|tojson }}|{{ f|tojson }}|{{ 1e-5|tojson }}|{{ '\\n\\t\\x01'|tojson }}"),
    ("tojson_opts", "{{ d|tojson(indent=2) }}|{{ d|tojson(sort_keys=true) }}|{{ d|tojson(separators=(',', ':')) }}|{{ uni|tojson(ensure_ascii=true) }}|{{ [[], {}]|tojson(indent=2) }}|{{ d|tojson(indent='\\t') }}"),
    ("tojson_positional", "{{ uni|tojson(true) }}"),
    ("tojson_undefined", "{{ missing|tojson }}"),
    ("filters_text", "{{ s|trim }}|{{ s|trim('  H!') }}|{{ n|string }}|{{ lst|string }}|{{ s|upper }}|{{ s|lower }}|{{ 'hello-world (x) [y]'|title }}|{{ 'aBC'|capitalize }}|{{ s|replace('l', 'L') }}|{{ s|length }}|{{ s|wordcount }}|{{ s|center(20) }}"),
    ("filters_join", "{{ lst|join(', ') }}|{{ msgs|join('/', attribute='role') }}|{{ missing|join(',') }}|{{ 'abc'|join('-') }}"),
    ("filters_default", "{{ missing|default('d') }}|{{ n|default('d') }}|{{ ''|default('d', true) }}|{{ n|default('d', boolean=true) }}|{{ missing|d }}"),
    ("filters_list", "{{ d|list }}|{{ 'ab'|list }}|{{ lst|first }}|{{ lst|last }}|{{ d|first }}|{{ lst|length }}|{{ d|length }}|{{ missing|length }}|{{ [3, 1, 2]|sort }}|{{ [3, 1, 2]|max }}|{{ [1, 2]|sum }}|{{ [1, 1, 2]|unique|list }}"),
    ("filters_items", "{% for k, v in d|items %}{{ k }}:{{ v }},{% endfor %}|{{ d|dictsort }}|{% for k, v in d|dictsort %}{{ k }}{% endfor %}"),
    ("filters_select", "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }}|{{ msgs|rejectattr('role', 'eq', 'user')|list|length }}|{{ lst|select('string')|list }}|{{ lst|reject('none')|list }}|{{ msgs|map(attribute='role')|list }}"),
    ("generator_truthy", "{% if empty|selectattr('x') %}truthy{% else %}falsy{% endif %}|{% if empty|selectattr('x')|list %}truthy{% else %}falsy{% endif %}"),
    ("generator_length", "{{ msgs|selectattr('role', 'equalto', 'user')|length }}"),
    ("generator_once", "{% set g = msgs|map(attribute='role') %}{{ g|join(',') }}|{{ g|join(',') }}"),
    ("generator_loop", "{% for m in msgs|selectattr('role', 'eq', 'user') %}{{ loop.index }}/{{ loop.length }}{{ '.' if loop.last }}{% endfor %}"),
    ("reverse", "{{ 'abc'|reverse }}|{{ lst|reverse|list }}|{% for m in msgs|reverse %}{{ m.content }}{% endfor %}"),
    ("reverse_length", "{{ lst|reverse|length }}"),
    ("none_filters_map", "{{ n|map(attribute='x')|list }}|{{ n|selectattr('x')|list }}"),
    ("none_list", "{{ n|list }}"),
    ("none_join", "{{ n|join(',') }}"),
    ("none_length", "{{ n|length }}"),
    ("none_for", "{% for x in n %}{{ x }}{% endfor %}"),
    ("none_for_in_if", "{% if n %}{% for x in n %}{% endfor %}{% endif %}ok"),
    ("int_for", "{% for x in i %}{% endfor %}"),
    ("indent", "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb\\n'|indent(width=1, blank=true) }}|{{ 'x\\ny'|indent('> ') }}"),
    ("tests", "{{ s is string }}|{{ lst is sequence }}|{{ d is sequence }}|{{ s is sequence }}|{{ n is sequence }}|{{ missing is sequence }}|{{ d is mapping }}|{{ lst is iterable }}|{{ n is iterable }}|{{ t is number }}|{{ t is boolean }}|{{ i is integer }}|{{ f is float }}|{{ t is integer }}|{{ n is none }}|{{ missing is defined }}|{{ n is defined }}|{{ i is odd }}|{{ i is divisibleby 7 }}|{{ 'ab' is lower }}|{{ t is true }}|{{ 1 is true }}"),
    ("tests_namespace_mapping", "{{ namespace(a=1) is mapping }}"),
    ("loop_vars", "{% for x in lst %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('a', 'b') }};{% endfor %}"),
    ("loop_controls", "{% for x in range(10) %}{% if x is odd %}{% continue %}{% endif %}{% if x > 6 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
    ("loop_filter_else", "{% for x in lst if x %}{{ x }},{% endfor %}|{% for x in empty %}x{% else %}empty{% endfor %}"),
    ("loop_scoping", "{% set y = 1 %}{% for x in lst %}{% set y = 2 %}{% endfor %}{{ y }}"),
    ("namespace", "{% set ns = namespace(a=1, b=[]) %}{% for x in lst %}{% set ns.a = ns.a + 1 %}{% endfor %}{{ ns.a }}|{{ ns.b }}"),
    ("namespace_underscore", "{% set ns = namespace(_a=1) %}{{ ns._a }}"),
    ("dict_global", "{{ dict(a=1, b=n) }}|{{ dict(d, z=2)|length }}"),
    ("range_global", "{{ range(3)|list }}|{{ range(1, 10, 3)|list }}|{% for i in range(2) %}{{ i }}{% endfor %}"),
    ("macro_caller", "{% macro m(x, y='d') %}<{{ x }}{{ y }}{{ caller() if caller is defined }}>{% endmacro %}{{ m(1) }}{% call m(2, y='e') %}body{% endcall %}"),
    ("set_block", "{% set x %}  block {{ i }} {% endset %}[{{ x }}]|{% set a, b = 1, 2 %}{{ a }}{{ b }}"),
    ("if_expr", "{{ 'y' if t else 'n' }}|{{ 'y' if n }}|{{ 'a' if n else 'b' if t else 'c' }}"),
    ("raise", "{{ raise_exception('Bad role: ' + msgs[0].role) }}"),
    ("strftime", "{{ strftime_now('%Y-%m-%d') }}|{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%B %-d, %A %H:%M') }}"),
    ("generation_tag", "{% for m in msgs %}{% generation %}{% set inner = 1 %}[{{ m.content }}]{% endgeneration %}{% endfor %}{{ inner is defined }}"),
    ("unknown_filter_top", "{{ s|from_json }}"),
    ("unknown_filter_in_if", "{% if n %}{{ s|from_json }}{% endif %}ok"),
    ("unknown_filter_in_if_loop", "{% if n %}{% for x in lst %}{{ x|from_json }}{% endfor %}{% endif %}ok"),
    ("unknown_test_top", "{{ s is startingwith 'a' }}"),
    ("unknown_function", "{{ lipsum_zz() }}"),
    ("whitespace", "a\n  {% if t %}\n    x\n  {% endif %}\nb\n{%- if t -%}  c  {%- endif -%}\n d {{- ' e ' -}} f\n"),
    ("trailing_newline", "x\n"),
    ("lstrip_inline", "a  {% if t %}b{% endif %}  c\n    {% if t %}d{% endif %}\n"),
    ("comments", "a {# c #} b\n{#- x -#}\nc"),
    ("raw_block", "{% raw %}{{ x }}{% endraw %}"),
    ("string_escapes", "{{ 'a\\tb\\\\c\\'d\\u00e9' }}|{{ \"q\\\"q\" }}"),
    ("string_escapes_python", "{{ '\\x41\\d\\s\\101\\u00e9\\U0001F600\\/\\a\\v|' ~ \"a\\\nb\" ~ '|\\é' }}"),
    ("crlf_source", "a\r\nb\rc\n{% if t %}\r\n  x\r\n{% endif %}\r\n{{ 'p\r\nq' }}\r\n"),
    ("none_attr_chain", "{{ n.x.y }}"),
    ("undefined_attr_chain", "{{ missing.x }}"),
    ("undefined_attr_test", "{{ missing.x is defined }}"),
    ("int_filter", "{{ '42'|int }}|{{ 'x'|int }}|{{ '3.9'|int }}|{{ 3.9|int }}|{{ '2.5'|float }}|{{ 2|float }}|{{ ' 1_000 '|int }}|{{ n|int(5) }}|{{ 'ff'|int(base=16) }}|{{ t|int }}|{{ 'x'|float }}|{{ '1e3'|float }}|{{ -2.7|int }}"),
    ("round_abs", "{{ 2.567|round(1) }}|{{ -3|abs }}|{{ 2.5|round }}|{{ 3.5|round }}|{{ 2.675|round(2) }}|{{ 0.125|round(2) }}|{{ 7|round }}|{{ 2.5|round(0, 'floor') }}|{{ 2.1|round(method='ceil') }}"),
    ("batch_slice", "{{ [1, 2, 3, 4, 5]|batch(2)|list }}|{{ [1, 2, 3, 4, 5]|slice(2)|list }}"),
    ("groupby", "{% for g in msgs|groupby('role') %}{{ g.grouper }}:{{ g.list|length }};{% endfor %}"),
    ("attr_vs_item", "{{ d.items is defined }}|{{ msgs[0]['role'] }}|{{ msgs[0].role }}"),
    ("math_errors", "{{ 1 / 0 }}"),
    ("bound_method_items", "{% set spec = {'type': 'array', 'items': {'type': 'string'}} %}{{ spec.items is mapping }}|{{ spec['items'] }}|{{ spec.items.type }}|{% if spec.items %}T{% endif %}|{{ spec.get('items') }}|{% for k, v in spec.items() %}{{ k }};{% endfor %}"),
    ("bound_method_json", "{% set spec = {'items': 1} %}{{ spec.items|tojson }}"),
    ("dict_key_named_get", "{% set d2 = {'get': 1, 'x': 2} %}{{ d2.get('x') }}|{{ d2['get'] }}|{{ d2.x }}"),
    ("namespace_method_names", "{% set ns = namespace(items=[], keys=1) %}{% set ns.items = ns.items + [1] %}{{ ns.items }}|{{ ns.keys }}"),
    ("str_method_attr", "{{ 'abc'.upper is defined }}|{{ 'abc'.nope is defined }}|{{ d.title }}"),
    ("loop_dict_string", "{% for k in d %}{{ k }}{% endfor %}|{% for c in 'ab' %}{{ c }}-{% endfor %}"),
    ("nested_loops", "{% for a in [1, 2] %}{% for b in [3, 4] %}{{ loop.index }}{{ a }}{{ loop.depth }},{% endfor %}{% endfor %}"),
    ("recursive_loop", "{% for x in [[1, [2]], 3] recursive %}{% if x is iterable %}[{{ loop(x) }}]{% else %}{{ x }}({{ loop.depth }}){% endif %}{% endfor %}"),
    ("unicode_case", "{{ 'straße'|upper }}|{{ 'ÀÉ'.lower() }}|{{ 'ǆ'.title() }}"),
    ("case_insensitive_sorts", "{{ ['b', 'A', 'a']|sort }}|{{ ['a', 'A', 'b']|unique|list }}|{{ ['b', 'A']|max }}|{{ {'b': 1, 'A': 2}|dictsort }}|{{ ['b', 'A', 'a']|sort(case_sensitive=true) }}"),
    ("sort_attribute", "{{ msgs|sort(attribute='content', reverse=true)|map(attribute='content')|join(',') }}"),
    ("map_filter_name", "{{ msgs|map(attribute='role')|map('upper')|join(',') }}|{{ [1, 2]|map('string')|list }}"),
    ("select_tests", "{{ [1, 2, 3, 4]|select('odd')|list }}|{{ [1, 2, 3]|select('gt', 1)|list }}|{{ msgs|selectattr('content', 'in', ['U1', 'S'])|list|length }}|{{ msgs|selectattr('nope', 'defined')|list|length }}"),
    ("truthiness", "{% for v in [0, 0.0, '', '0', [], {}, none, 'a', [0]] %}{{ 'T' if v else 'F' }}{% endfor %}"),
    ("lstrip_plus", "  {%+ if t %}x{% endif %}\n"),
    ("trim_plus", "{% if t +%}\nx{% endif %}"),
    ("comment_ws", "a\n  {# c #}\nb\n  {#- d -#}  \nc"),
    ("minus_ws_blocks", "a  \n  {%- if t -%}  \n  b  \n  {%- endif -%}  \n  c"),
    ("expr_ws", "a  {{- 'x' -}}  b  {{ 'y' }}  c\n"),
    ("set_multiline", "{%- set x = {\n  'a': 1,\n  'b': [\n    2\n  ]\n} -%}\n{{ x|tojson }}"),
    ("filter_block", "{% filter upper %}abc {{ s|trim }}{% endfilter %}"),
    ("with_block", "{% with a = 1, b = i %}{{ a + b }}{% endwith %}"),
    ("concat_types", "{{ 1 ~ 2 }}|{{ 1.0 ~ '' }}|{{ none ~ '' }}|{{ t ~ f }}|{{ [1] ~ '' }}|{{ {'a': 'b'} ~ '' }}"),
    ("undefined_ops", "{{ missing ~ 'x' }}|{{ missing|string }}|{{ missing|trim }}|{{ missing is none }}|{{ missing|default(none) is none }}"),
    ("undefined_plus", "{{ missing + 1 }}"),
    ("undefined_iter_filters", "{{ missing|list }}|{{ missing|join }}|{{ missing|length }}|{{ missing|first is defined }}|{% for x in missing %}x{% endfor %}"),
    ("none_compare", "{{ n < 1 }}"),
    ("int_big", "{{ 2 ** 62 }}|{{ 9007199254740993 }}|{{ 10 ** 20 }}"),
    ("float_print", "{{ 1.5e300 * 10 }}|{{ 3.0 }}|{{ 1 / 3 }}|{{ 2.5|string }}|{{ 100.0 }}|{{ 1e22 }}|{{ -0.0 }}"),
    ("len_int", "{{ i|length }}"),
]


def main():
    check = "--check-transformers" in sys.argv
    env = build_env()
    expected = {"fixed_now": FIXED_NOW.isoformat(), "special_tokens": SPECIAL_TOKENS, "cases": CASES, "results": {}}
    for path in sorted(TEMPLATE_DIR.glob("*.jinja")):
        source = path.read_text(encoding="utf-8")
        compiled = outcome(lambda: env.from_string(source))
        per_case = {}
        for case_name, case in CASES.items():
            if "error" in compiled:
                result = dict(compiled)
            else:
                result = outcome(lambda: render(compiled["ok"], case))
            if check:
                check_against_transformers(f"{path.stem}/{case_name}", source, case, result)
            per_case[case_name] = result
        expected["results"][path.stem] = per_case
    probes = {}
    for name, src in PROBES:
        compiled = outcome(lambda: env.from_string(src))
        if "error" in compiled:
            probes[name] = {"template": src, **compiled}
        else:
            probes[name] = {"template": src, **outcome(lambda: compiled["ok"].render(**PROBE_CTX))}
    expected["probe_context"] = PROBE_CTX
    expected["probes"] = probes
    OUT.write_text(json.dumps(expected, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    n = sum(len(v) for v in expected["results"].values())
    errs = sum(1 for v in expected["results"].values() for r in v.values() if "error" in r)
    print(f"wrote {OUT}: {len(expected['results'])} templates, {n} cases, {errs} errors")


if __name__ == "__main__":
    main()
