"""Conformance of `allmende serve` with the official `openai` Python client.

Starts the real binary ($ALLMENDE_BIN) on a free loopback port with smollm2-135m-instruct and
all-minilm-l6-v2 and an API key, then drives it through
`openai.OpenAI`: models, chat, streaming, completions, logprobs, n, embeddings, the error classes
the client raises for each status, 8 concurrent streams, a client that disconnects mid-stream,
a full queue (429) and a graceful shutdown (SIGINT) that finishes the streams in flight.

Run through run.sh (it makes the venv and builds the binary). Every wait is bounded.
"""

import http.client
import json
import math
import os
import signal
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

BIN = os.environ.get("ALLMENDE_BIN", os.path.join(os.path.dirname(__file__), "../../target/debug/allmende"))
CHAT_MODEL = "smollm2-135m-instruct"
EMBED_MODEL = "all-minilm-l6-v2"
KEY = "sk-conformance-0123456789"
THREADS = os.environ.get("ALLMENDE_TEST_THREADS", "2")
QUESTION = "What is the capital of France? Answer in one sentence."


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The binary serving `models`; stderr goes to a temp file (shown when startup fails)."""

    def __init__(self, models, *extra):
        self.port = free_port()
        self.log = tempfile.TemporaryFile(mode="w+")
        args = [BIN, "serve", *models, "--port", str(self.port), "--api-key", KEY, "-t", THREADS, *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 900  # a first run may pull the models
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                if self.get("/health", auth=False)[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"server did not come up:\n{self.stderr()}")
            time.sleep(0.2)

    def stderr(self):
        self.log.seek(0)
        return self.log.read()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def client(self, key=KEY):
        return openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=0, timeout=300)

    def get(self, path, auth=True):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": f"Bearer {KEY}"} if auth else {}
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        body = r.read().decode()
        conn.close()
        return r.status, body

    def open_stream(self, path, body):
        """POSTs a streaming request; returns (connection, response) with the body unread."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        conn.request("POST", path, body=json.dumps(body), headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        return conn, conn.getresponse()

    def metric(self, name):
        status, text = self.get("/metrics")
        assert status == 200
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="module")
def server():
    srv = Server([CHAT_MODEL, EMBED_MODEL])
    yield srv
    assert srv.stop() == 0, srv.stderr()


@pytest.fixture(scope="module")
def client(server):
    return server.client()


@pytest.fixture(scope="module")
def greedy_reference():
    """`allmende run --temp 0` on the same question: the text the server must reproduce."""
    out = subprocess.run(
        [BIN, "run", CHAT_MODEL, QUESTION, "--temp", "0", "-n", "24", "--json", "-t", THREADS],
        capture_output=True, text=True, timeout=600, check=True,
    )
    return json.loads(out.stdout)


def next_event(resp):
    """The next SSE `data:` line of a streaming response (chunked framing decoded)."""
    while True:
        line = resp.readline()
        assert line, "stream ended"
        if line.startswith(b"data: "):
            return line


def ask(client, **kw):
    args = dict(model=CHAT_MODEL, messages=[{"role": "user", "content": QUESTION}], temperature=0, max_tokens=24)
    args.update(kw)
    return client.chat.completions.create(**args)


def test_models(client):
    ids = [m.id for m in client.models.list()]
    assert CHAT_MODEL in ids
    m = client.models.retrieve(CHAT_MODEL)
    assert (m.id, m.object, m.owned_by) == (CHAT_MODEL, "model", "allmende")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_bom_of_the_loaded_models(server):
    """GET /v1/bom: the CycloneDX AI-BOM of what the server loaded, behind the API key."""
    assert server.get("/v1/bom", auth=False)[0] == 401
    status, body = server.get("/v1/bom")
    assert status == 200
    bom = json.loads(body)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    assert bom["metadata"]["tools"]["components"][0]["name"] == "allmende"
    models = {c["name"]: c for c in bom["components"]}
    assert set(models) == {CHAT_MODEL, EMBED_MODEL}
    for c in models.values():
        assert c["type"] == "machine-learning-model"
        files = c.get("components", [])
        hashes = [h["content"] for f in files for h in f["hashes"]] or [h["content"] for h in c["hashes"]]
        assert hashes and all(len(h) == 64 for h in hashes)
    assert models[EMBED_MODEL]["modelCard"]["modelParameters"]["task"] == "feature-extraction"


def test_chat_equals_run_temp_0(client, greedy_reference):
    r = ask(client)
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert r.model == CHAT_MODEL
    c = r.choices[0]
    assert c.index == 0 and c.message.role == "assistant"
    assert c.message.content == greedy_reference["text"]
    assert c.finish_reason == greedy_reference["finish_reason"]
    assert r.usage.prompt_tokens == len(greedy_reference["prompt_ids"])
    assert r.usage.completion_tokens == len(greedy_reference["ids"])
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_streaming(client, greedy_reference):
    chunks = list(ask(client, stream=True, stream_options={"include_usage": True}))
    assert all(ch.object == "chat.completion.chunk" for ch in chunks)
    assert len({ch.id for ch in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == greedy_reference["text"]
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finishes == [greedy_reference["finish_reason"]]
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == len(greedy_reference["ids"])


def test_chat_parameters(client):
    # Content-part arrays, a system message, stop strings, seed, penalties, logit_bias and the
    # llama.cpp extras (through extra_body) are all accepted.
    r = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": [{"type": "text", "text": "Count from one to ten:"}, {"type": "text", "text": "one, two,"}]},
        ],
        temperature=0.7, top_p=0.9, seed=7, presence_penalty=0.2, frequency_penalty=0.2,
        logit_bias={"0": -100}, stop=["seven"], max_completion_tokens=40, user="tester",
        extra_body={"top_k": 20, "min_p": 0.05, "repeat_penalty": 1.1},
    )
    assert "seven" not in r.choices[0].message.content
    again = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": [{"type": "text", "text": "Count from one to ten:"}, {"type": "text", "text": "one, two,"}]},
        ],
        temperature=0.7, top_p=0.9, seed=7, presence_penalty=0.2, frequency_penalty=0.2,
        logit_bias={"0": -100}, stop=["seven"], max_completion_tokens=40, user="tester",
        extra_body={"top_k": 20, "min_p": 0.05, "repeat_penalty": 1.1},
    )
    assert again.choices[0].message.content == r.choices[0].message.content, "same seed, same text"


def test_chat_n_and_logprobs(client):
    r = ask(client, n=2, temperature=0.9, seed=3, max_tokens=8, logprobs=True, top_logprobs=2)
    assert [c.index for c in r.choices] == [0, 1]
    for c in r.choices:
        content = c.logprobs.content
        assert len(content) >= 1
        for tok in content:
            # The engine reports the final (filtered) distribution: top-k/top-p/min-p may leave
            # fewer than two candidates.
            assert tok.logprob <= 0 and 1 <= len(tok.top_logprobs) <= 2
            assert tok.top_logprobs[0].logprob >= tok.logprob
        assert "".join(bytes(t.bytes).decode("utf-8", "replace") for t in content) == c.message.content


def test_structured_output(client):
    """response_format json_schema: the reply parses and validates, sampled or greedy."""
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 40},
            "population": {"type": "integer"},
            "capital": {"type": "boolean"},
        },
        "required": ["city", "population", "capital"],
        "additionalProperties": False,
    }
    for temperature in (0, 0.9):
        r = client.chat.completions.create(
            model=CHAT_MODEL,
            messages=[{"role": "user", "content": "Describe Paris as JSON."}],
            temperature=temperature,
            seed=7,
            max_tokens=120,
            response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}},
        )
        c = r.choices[0]
        assert c.finish_reason == "stop", c
        doc = json.loads(c.message.content)
        assert set(doc) == {"city", "population", "capital"}, doc
        assert isinstance(doc["city"], str) and len(doc["city"]) <= 40
        assert isinstance(doc["population"], int) and not isinstance(doc["population"], bool)
        assert isinstance(doc["capital"], bool)
    r = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "Reply with a JSON object."}],
        max_tokens=120,
        temperature=0,
        response_format={"type": "json_object"},
    )
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(r.choices[0].message.content), dict)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model=CHAT_MODEL,
            messages=[{"role": "user", "content": "x"}],
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "pattern": "a+"}}},
        )
    assert e.value.body["param"] == "response_format.json_schema.schema"


def test_completions(client):
    r = client.completions.create(model=CHAT_MODEL, prompt="The capital of France is", max_tokens=8, temperature=0,
                                  logprobs=2, extra_body={"ignore_eos": True})
    assert r.object == "text_completion" and r.id.startswith("cmpl-")
    c = r.choices[0]
    assert c.finish_reason == "length" and r.usage.completion_tokens == 8
    assert len(c.logprobs.tokens) == 8 and len(c.logprobs.top_logprobs) == 8
    assert "".join(c.logprobs.tokens) == c.text
    streamed = "".join(ch.choices[0].text for ch in client.completions.create(
        model=CHAT_MODEL, prompt="The capital of France is", max_tokens=8, temperature=0, stream=True,
        extra_body={"ignore_eos": True}) if ch.choices)
    assert streamed == c.text
    echo = client.completions.create(model=CHAT_MODEL, prompt="Paris is", max_tokens=3, temperature=0, echo=True)
    assert echo.choices[0].text.startswith("Paris is")


def test_embeddings(client):
    pair = ["A man is eating food.", "A man is eating a piece of bread."]
    r = client.embeddings.create(model=EMBED_MODEL, input=pair)  # the client asks for base64
    assert r.object == "list" and r.model == EMBED_MODEL
    assert [d.index for d in r.data] == [0, 1]
    a, b = (d.embedding for d in r.data)
    assert len(a) == 384
    assert abs(math.sqrt(sum(x * x for x in a)) - 1) < 1e-4, "sentence-transformers normalises"
    # sentence-transformers' cosine for this pair (docs/SERVER.md).
    assert abs(sum(x * y for x, y in zip(a, b)) - 0.7553) < 5e-4
    f = client.embeddings.create(model=EMBED_MODEL, input=pair[0], encoding_format="float")
    assert max(abs(x - y) for x, y in zip(f.data[0].embedding, a)) < 1e-6
    assert r.usage.prompt_tokens == r.usage.total_tokens > 0
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model=EMBED_MODEL, input="word " * 300)
    assert e.value.body["param"] == "input"
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model=CHAT_MODEL, input="x")


def test_errors(server, client):
    with pytest.raises(openai.AuthenticationError):
        ask(server.client(key="sk-wrong"))
    with pytest.raises(openai.NotFoundError) as e:
        ask(client, model="gpt-4o")
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, temperature=3)
    assert e.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, max_tokens=1_000_000)
    assert e.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, response_format={"type": "yaml"})
    assert e.value.body["param"] == "response_format"
    with pytest.raises(openai.BadRequestError):
        ask(client, messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}])
    with pytest.raises(openai.BadRequestError):
        ask(client, messages=[{"role": "narrator", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        ask(client, n=0)
    assert server.get("/health", auth=False)[0] == 200
    assert server.get("/v1/models", auth=False)[0] == 401


def test_eight_concurrent_streams(client, greedy_reference):
    def one(_):
        chunks = list(ask(client, stream=True))
        assert chunks[0].choices[0].delta.role == "assistant"
        return "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices), chunks[-1].choices[0].finish_reason

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    for text, finish in results:
        assert text == greedy_reference["text"]
        assert finish == greedy_reference["finish_reason"]


def test_disconnect_cancels_generation(server):
    before = server.metric("allmende_generated_tokens_total")
    conn, resp = server.open_stream("/v1/completions", {
        "model": CHAT_MODEL, "prompt": "Once upon a time", "max_tokens": 3000, "ignore_eos": True, "temperature": 0, "stream": True})
    assert resp.status == 200
    for _ in range(3):
        next_event(resp)
    resp.close()
    conn.close()
    deadline = time.monotonic() + 60
    while server.metric("allmende_active_sequences") != 0:
        assert time.monotonic() < deadline, "generation went on after the client left"
        time.sleep(0.1)
    assert server.metric("allmende_generated_tokens_total") - before < 3000


def test_queue_full_then_graceful_shutdown():
    srv = Server([CHAT_MODEL], "--parallel", "1", "--queue", "1")
    try:
        long_body = {"model": CHAT_MODEL, "prompt": "Once upon a time", "max_tokens": 60, "ignore_eos": True, "temperature": 0, "stream": True}
        c1, r1 = srv.open_stream("/v1/completions", long_body)
        assert r1.status == 200
        first = next_event(r1)
        assert b'"text":' in first, first  # running: its first token arrived
        c2, r2 = srv.open_stream("/v1/completions", dict(long_body, max_tokens=5))
        assert r2.status == 200  # accepted into the one queue slot
        with pytest.raises(openai.RateLimitError) as e:
            srv.client().completions.create(model=CHAT_MODEL, prompt="x", max_tokens=2)
        assert e.value.body["code"] == "queue_full"

        srv.proc.send_signal(signal.SIGINT)
        rest1 = r1.read().decode()
        rest2 = r2.read().decode()
        for rest in (rest1, rest2):
            assert rest.rstrip().endswith("data: [DONE]"), rest
            assert '"finish_reason":"length"' in rest
        # 60 tokens streamed in all: the running request finished after the signal.
        assert (first.decode() + rest1).count('"finish_reason":null') == 60
        c1.close()
        c2.close()
        assert srv.proc.wait(timeout=120) == 0
        assert "shutting down" in srv.stderr()
    finally:
        srv.stop()
