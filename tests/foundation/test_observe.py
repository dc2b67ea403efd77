"""Request ids, the JSON request log and the Prometheus counts (issue 13), in-process."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from nlpsvc.service.metrics import metrics
from nlpsvc.service.reqlog import RequestLog, request_id


def sample(name: str, **labels: str) -> float:
    """A sample's current value in this process's metrics (0 when absent)."""
    from prometheus_client import REGISTRY

    metrics().flush()  # requests are tallied, then added in batches
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
def logged(make_app, models_root: Path):  # noqa: ANN001, ANN201
    stream = io.StringIO()
    app = make_app(models_root, REQUEST_LOG=RequestLog(stream))
    return app.test_client(), stream


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_line_per_request_without_the_texts(logged) -> None:  # noqa: ANN001
    client, stream = logged
    secret = "the queen said something private"
    resp = client.post("/score", json={"texts": [secret, "alice"]})
    assert resp.status_code == 200
    client.post("/score", json={"text": 5})
    client.get("/health")
    first, bad, health = lines(stream)
    assert "private" not in stream.getvalue()
    assert first["endpoint"] == "/score" and first["method"] == "POST"
    assert first["status"] == 200 and first["texts"] == 2
    assert first["model"] == "mini" and first["kind"] == "ngram"
    assert first["version"] == resp.get_json()["version"]
    assert first["duration_ms"] > 0 and first["time"].endswith("Z")
    assert first["request_id"] == resp.headers["X-Request-ID"]
    assert bad["status"] == 422 and "texts" not in bad
    assert health["endpoint"] == "/health" and "model" not in health


def test_request_id_is_taken_or_made(logged) -> None:  # noqa: ANN001
    client, stream = logged
    given = client.get("/health", headers={"X-Request-ID": "trace-42.a:b"})
    assert given.headers["X-Request-ID"] == "trace-42.a:b"
    # an id that could forge log lines or blow them up is replaced
    for bad in ('x"},{"status":200', "a" * 200, "has space", "ä"):
        resp = client.get("/health", headers={"X-Request-ID": bad})
        assert resp.headers["X-Request-ID"] != bad
    made = {client.get("/nope").headers["X-Request-ID"] for _ in range(5)}
    assert len(made) == 5  # 404s carry one too
    assert all(entry["request_id"] for entry in lines(stream))
    assert request_id(None) != request_id(None)


def test_unknown_paths_share_one_label(logged) -> None:  # noqa: ANN001
    client, stream = logged
    before = sample("nlpsvc_http_requests_total", endpoint="other", method="GET", status="404")
    for i in range(3):
        client.get(f"/scan/{i}")
    after = sample("nlpsvc_http_requests_total", endpoint="other", method="GET", status="404")
    assert after - before == 3
    assert {e["endpoint"] for e in lines(stream)} == {"other"}


def test_metrics_count_requests_texts_and_models(logged) -> None:  # noqa: ANN001
    client, _ = logged
    labels = {"endpoint": "/score", "method": "POST", "status": "200"}
    ok0 = sample("nlpsvc_http_requests_total", **labels)
    texts0 = sample("nlpsvc_texts_total", endpoint="/score")
    hist0 = sample("nlpsvc_http_request_duration_seconds_count", endpoint="/score")
    bad0 = sample("nlpsvc_http_requests_total", endpoint="/score", method="POST", status="422")
    client.post("/score", json={"texts": ["a", "b", "c"]})
    client.post("/score", json={"text": "the"})
    client.post("/score", json={"texts": []})
    assert sample("nlpsvc_http_requests_total", **labels) - ok0 == 2
    assert sample("nlpsvc_texts_total", endpoint="/score") - texts0 == 4  # not the 422's
    assert sample("nlpsvc_http_request_duration_seconds_count", endpoint="/score") - hist0 == 3
    assert sample("nlpsvc_http_requests_total", endpoint="/score", method="POST",
                  status="422") - bad0 == 1
    text = client.get("/metrics")
    assert text.status_code == 200 and text.content_type.startswith("text/plain")
    body = text.get_data(as_text=True)
    version = client.get("/models").get_json()["models"][0]["version"]
    assert f'nlpsvc_model_info{{kind="ngram",model="mini",version="{version}"}} 1.0' in body
    for name in ("nlpsvc_http_requests_total", "nlpsvc_http_request_duration_seconds_bucket",
                 "nlpsvc_texts_total"):
        assert name in body


def test_metrics_and_log_can_be_off(make_app, models_root: Path) -> None:  # noqa: ANN001
    client = make_app(models_root, METRICS=False, REQUEST_LOG="off").test_client()
    before = sample("nlpsvc_http_requests_total", endpoint="/health", method="GET",
                    status="200")
    resp = client.get("/health")
    assert resp.headers["X-Request-ID"]  # ids stay
    assert sample("nlpsvc_http_requests_total", endpoint="/health", method="GET",
                  status="200") == before


def test_request_log_to_a_file(make_app, models_root: Path, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "requests.log"
    client = make_app(models_root, REQUEST_LOG=str(path)).test_client()
    client.post("/score", json={"text": "the"})
    client.post("/score", json={"text": "the"})
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["status"] for e in entries] == [200, 200]


def test_tallies_reach_prometheus_in_batches() -> None:
    """Counts, bucket counts and the sum come out as if each request had been observed."""
    m = metrics()
    m.flush()
    count0 = sample("nlpsvc_http_request_duration_seconds_count", endpoint="/x-test")
    sum0 = sample("nlpsvc_http_request_duration_seconds_sum", endpoint="/x-test")
    le1 = sample("nlpsvc_http_request_duration_seconds_bucket", endpoint="/x-test", le="0.001")
    for seconds in (0.0002, 0.001, 0.003, 20.0):
        m.record("/x-test", "GET", "200", seconds, 2)
    assert m._count  # tallied, not yet in prometheus
    assert sample("nlpsvc_http_requests_total", endpoint="/x-test", method="GET",
                  status="200") == 4
    assert sample("nlpsvc_http_request_duration_seconds_count", endpoint="/x-test") - count0 == 4
    assert sample("nlpsvc_http_request_duration_seconds_bucket", endpoint="/x-test",
                  le="0.001") - le1 == 2  # le is inclusive
    assert sample("nlpsvc_http_request_duration_seconds_sum",
                  endpoint="/x-test") - sum0 == pytest.approx(20.0042)
    assert sample("nlpsvc_texts_total", endpoint="/x-test") == 8
    child = m.duration.labels("/x-test")  # the internals the batch path relies on
    assert len(child._buckets) == len(m._bounds) and hasattr(child, "_sum")
