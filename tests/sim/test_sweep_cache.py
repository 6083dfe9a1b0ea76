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


def test_sram_width_points_keep_the_spmat_capacity():
    """Fig. 9 compares widths at one SRAM size: unless spmat_words is given or swept, a
    point of another width gets as many fewer (or more) words."""
    from eie_hw.config import EIEConfig
    from sim.sweep import SweepOptions, point_config
    options = SweepOptions(base=EIEConfig(sram_width=64, spmat_words=16384),
                           sweep={"sram_width": (32, 512)})
    assert point_config(options, {"sram_width": 512}) == {"sram_width": 512, "spmat_words": 2048}
    assert point_config(options, {"sram_width": 32})["spmat_words"] == 32768
    assert point_config(options, {"fifo_depth": 4}) == {"fifo_depth": 4}
    fixed = SweepOptions(base=EIEConfig(), sweep={"sram_width": (32,)}, explicit=("spmat_words",))
    assert point_config(fixed, {"sram_width": 32}) == {"sram_width": 32}
