"""inspect --serve: /metrics answers with the figures; any other path is a 404."""

import urllib.error
import urllib.request

import pytest

from tickpipe.engine import metrics
from tickpipe.engine.metrics import serve


class NoSnapshot:
    """Stands in for an Inspector: these tests look at routing, not at the figures."""

    def snapshot(self):
        raise AssertionError("only /metrics may take a snapshot")


@pytest.fixture
def base_url():
    host, port = serve(NoSnapshot(), 0)
    return f"http://{host}:{port}"


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.mark.parametrize("path", ["/other", "/metrics/", "/favicon.ico", "/metricsx"])
def test_serve_when_a_path_other_than_metrics_is_asked_then_404_points_to_metrics(base_url, path):
    status, body = get(base_url + path)
    assert status == 404
    assert body == f"404 not found: {path}; tickpipe metrics are at /metrics\n"


def test_serve_when_root_is_asked_then_200_points_to_metrics(base_url):
    assert get(base_url + "/") == (200, "tickpipe metrics: see /metrics\n")


def test_serve_when_metrics_is_asked_then_the_collector_answers(monkeypatch):
    class Snapshot:
        data, histograms = {}, None

    class Stub:
        def snapshot(self):
            return Snapshot()

    monkeypatch.setattr(metrics, "families", lambda data, histograms: [])
    host, port = serve(Stub(), 0)
    status, body = get(f"http://{host}:{port}/metrics")
    assert status == 200 and body == ""
