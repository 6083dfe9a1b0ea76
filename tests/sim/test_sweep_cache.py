"""The sweep cache's keys (sim/sweep/cache.py)."""

from sim.sweep import cache


def test_a_cached_point_is_reused_only_by_the_same_code(monkeypatch):
    """The cache key holds a hash of the source (a changed pipeline once got its old cycle
    counts back from the cache: the version number had not changed)."""
    doc = {"layer": "Alex-8", "n_pes": 64}
    key = cache.content_key(doc)
    assert key == cache.content_key(dict(doc))
    assert len(cache.code_fingerprint()) == 16
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "0" * 16)
    assert cache.content_key(doc) != key
