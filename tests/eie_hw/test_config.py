"""EIEConfig validates itself, derives widths and round-trips through JSON."""

import json

import pytest

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError


def test_paper_defaults_and_derived_widths():
    cfg = EIEConfig()
    assert (cfg.n_pes, cfg.fifo_depth, cfg.sram_width) == (64, 8, 64)
    assert cfg.entry_bits == 8 and cfg.entries_per_word == 8 and cfg.slot_bits == 3
    assert cfg.codebook_size == 16 and cfg.max_skip == 15
    # Pointers address every entry of a PE's Spmat, the end pointer included.
    assert cfg.ptr_bits == (16384 * 8).bit_length()
    assert cfg.ptr_bank_entries == cfg.ptr_entries // 2


def test_json_round_trip(tmp_path):
    cfg = EIEConfig(n_pes=3, fifo_depth=1, sram_width=128)
    path = tmp_path / "c.json"
    path.write_text(cfg.to_json())
    assert EIEConfig.load(path) == cfg
    assert EIEConfig.from_json(json.dumps(cfg.to_dict())) == cfg


@pytest.mark.parametrize("changes,message", [
    ({"n_pes": 0}, "n_pes must be at least 1"),
    ({"sram_width": 60}, "not a multiple of the entry width"),
    ({"sram_width": 48}, "power of two"),
    ({"acc_bits": 24}, "cannot hold a product"),
    ({"act_frac": 16}, "act_frac must be in"),
    ({"ptr_entries": 7}, "ptr_entries must be a positive multiple of 2 x bcast_width = 2"),
    ({"bcast_width": 4, "ptr_entries": 100}, "multiple of 2 x bcast_width = 8.*use 104"),
    ({"bcast_width": 3}, "bcast_width=3 is not a power of two: use 2"),
    ({"bcast_width": 4, "n_pes": 6}, "bcast_width=4 does not divide n_pes=6"),
    ({"bcast_width": 0}, "bcast_width must be at least 1"),
    ({"fifo_depth": 0}, "fifo_depth must be at least 1"),
    ({"n_pes": 2.5}, "must be an integer"),
    ({"acc_bits": 48, "act_bits": 24}, "more than 40"),
])
def test_invalid_configs_are_clear_errors(changes, message):
    with pytest.raises(EIEError, match=message):
        EIEConfig(**changes)


def test_unknown_field_and_bad_json(tmp_path):
    with pytest.raises(EIEError, match="unknown configuration field"):
        EIEConfig.from_dict({"n_pes": 4, "pe_count": 4})
    with pytest.raises(EIEError, match="not valid JSON"):
        EIEConfig.from_json("{", source="x.json")
    with pytest.raises(EIEError, match="cannot read"):
        EIEConfig.load(tmp_path / "missing.json")


def test_packing_compatibility_ignores_fifo_depth_only():
    packed = EIEConfig(n_pes=4)
    packed.check_packing_compatible(packed.replace(fifo_depth=2))
    with pytest.raises(EIEError, match="n_pes: packed for 4, requested 8"):
        packed.check_packing_compatible(packed.replace(n_pes=8))
