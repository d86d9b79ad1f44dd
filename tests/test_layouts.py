"""shm layouts: numpy dtypes match the C structs, sizes are cache lines, checks name bad values."""

import pkgutil

import numpy as np
import pytest

import ringtest_loops as loops
from tickpipe import shm_layouts
from tickpipe.engine.atomics import ffi
from tickpipe.shm_layouts.book import BOOK_DTYPE, BOOK_NO_MARKET_OFFSET, BOOK_VERSION_OFFSET
from tickpipe.shm_layouts.fill import EXEC_FILL, EXEC_NEW, FILL_DTYPE, check_fill
from tickpipe.shm_layouts.layout_rules import assert_layout, describe
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE, MD_KIND_QUOTE, MD_KIND_TRADE, check_market_data
from tickpipe.shm_layouts.open_order import OPEN_ORDER_DTYPE
from tickpipe.shm_layouts.order import ORDER_DTYPE, check_order
from tickpipe.shm_layouts.order_intent import ORDER_INTENT_DTYPE, ORDER_TYPE_IOC, check_order_intent
from tickpipe.shm_layouts.ring_header import (
    RING_DOORBELL_OFFSET, RING_FULL_WAITS_OFFSET, RING_HEAD_OFFSET, RING_HEADER_DTYPE,
    RING_HIGH_WATER_OFFSET, RING_RECORDS_OFFSET, RING_TAIL_OFFSET, check_record_size,
    check_ring_capacity, ring_section_size,
)
from tickpipe.shm_layouts.segment_header import (
    LAYOUT_HASH_OFFSET, LAYOUT_VERSION_OFFSET, MAGIC_OFFSET, SECTION_DTYPE, SEGMENT_HEADER_DTYPE,
    TOTAL_SIZE_OFFSET, check_section_count,
)

C_STRUCTS = {
    "tp_segment_header": SEGMENT_HEADER_DTYPE,
    "tp_section_entry": SECTION_DTYPE,
    "tp_ring_header": RING_HEADER_DTYPE,
    "tp_market_data": MARKET_DATA_DTYPE,
    "tp_order_intent": ORDER_INTENT_DTYPE,
    "tp_order": ORDER_DTYPE,
    "tp_fill": FILL_DTYPE,
    "tp_open_order": OPEN_ORDER_DTYPE,
    "tp_book_row": BOOK_DTYPE,
}
RECORD_DTYPES = [MARKET_DATA_DTYPE, ORDER_INTENT_DTYPE, ORDER_DTYPE, FILL_DTYPE]


def assert_same_layout(dtype: np.dtype, ctype, path: str) -> None:
    """Every field of the numpy dtype has the C field's name, offset, size, type and shape."""
    c_fields = ctype.fields
    assert list(dtype.names) == [name for name, _ in c_fields], path
    assert dtype.itemsize == ffi.sizeof(ctype), f"{path}: sizeof"
    for name, c_field in c_fields:
        field_dtype, offset = dtype.fields[name][:2]
        where = f"{path}.{name}"
        assert offset == c_field.offset == ffi.offsetof(ctype, name), where
        assert field_dtype.itemsize == ffi.sizeof(c_field.type), where
        c_type = c_field.type
        if c_type.kind == "array" and c_type.item.cname == "char":
            assert field_dtype == np.dtype(f"S{c_type.length}"), where
            continue
        if c_type.kind == "array":
            assert field_dtype.shape == (c_type.length,), where
            c_type, field_dtype = c_type.item, field_dtype.base
        if c_type.kind == "struct":
            assert_same_layout(field_dtype, c_type, where)
        else:
            assert field_dtype == np.dtype(c_type.cname.removesuffix("_t")), where


@pytest.mark.parametrize("struct", sorted(C_STRUCTS))
def test_numpy_dtype_should_match_the_c_struct_field_by_field(struct):
    assert_same_layout(C_STRUCTS[struct], ffi.typeof(f"struct {struct}"), struct)


@pytest.mark.parametrize("dtype", RECORD_DTYPES, ids=lambda d: str(len(d.names)))
def test_every_ring_record_should_be_whole_cache_lines(dtype):
    # one line each; the execution report two (FIX 4.4's fields: status, avg px, ...)
    assert dtype.itemsize == (128 if dtype is FILL_DTYPE else 64)
    assert dtype.isalignedstruct


def test_every_shm_dtype_should_be_a_whole_number_of_cache_lines():
    for name, dtype in shm_layouts.SHM_DTYPES.items():
        assert dtype.itemsize % 64 == 0, name


def test_named_offsets_should_match_the_dtype_fields():
    assert SEGMENT_HEADER_DTYPE.fields["magic"][1] == MAGIC_OFFSET
    assert SEGMENT_HEADER_DTYPE.fields["layout_version"][1] == LAYOUT_VERSION_OFFSET
    assert SEGMENT_HEADER_DTYPE.fields["layout_hash"][1] == LAYOUT_HASH_OFFSET
    assert SEGMENT_HEADER_DTYPE.fields["total_size"][1] == TOTAL_SIZE_OFFSET
    ring = {name: RING_HEADER_DTYPE.fields[name][1] for name in RING_HEADER_DTYPE.names}
    assert (ring["head"], ring["tail"], ring["doorbell_armed"], ring["high_water"],
            ring["full_waits"]) == (RING_HEAD_OFFSET, RING_TAIL_OFFSET, RING_DOORBELL_OFFSET,
                                    RING_HIGH_WATER_OFFSET, RING_FULL_WAITS_OFFSET)
    assert RING_HEADER_DTYPE.itemsize == RING_RECORDS_OFFSET
    assert (BOOK_DTYPE.fields["version"][1], BOOK_DTYPE.fields["no_market"][1]) == \
        (BOOK_VERSION_OFFSET, BOOK_NO_MARKET_OFFSET)


def test_head_and_tail_should_each_sit_alone_in_128_bytes():
    def owner(offset):
        return [name for name in RING_HEADER_DTYPE.names if not name.startswith("_pad")
                and RING_HEADER_DTYPE.fields[name][1] // 128 == offset // 128]
    assert owner(RING_HEAD_OFFSET) == ["head"]
    assert owner(RING_TAIL_OFFSET) == ["tail"]
    assert RING_HEAD_OFFSET % 128 == RING_TAIL_OFFSET % 128 == 0


def test_ring_section_size_should_round_header_and_records_up_to_4096():
    assert ring_section_size(2, 64) == 4096
    assert ring_section_size(48, 64) == 4096
    assert ring_section_size(49, 64) == 8192
    assert ring_section_size(1024, 128) == 1024 + 131072 + 3072


@pytest.mark.parametrize("capacity", [2, 4, 1024, 1 << 24])
def test_check_ring_capacity_should_accept_powers_of_two_in_range(capacity):
    check_ring_capacity(capacity)


@pytest.mark.parametrize("capacity", [0, 1, 3, 6, 1000, -2, 1 << 25, 2.0, "8"])
def test_check_ring_capacity_when_bad_then_value_error_names_the_value(capacity):
    with pytest.raises(ValueError, match=f"capacity {capacity!r} "):
        check_ring_capacity(capacity)


def test_check_ring_capacity_should_accept_a_numpy_integer_capacity():
    check_ring_capacity(np.int64(1024))


@pytest.mark.parametrize("size", [0, -64, 32, 100, 65])
def test_check_record_size_when_not_a_positive_multiple_of_64_then_value_error_names_it(size):
    with pytest.raises(ValueError, match=f"record size {size} "):
        check_record_size(size)
    check_record_size(64)
    check_record_size(192)


@pytest.mark.parametrize("count", [-1, 33, 1000])
def test_check_section_count_when_outside_the_table_then_value_error_names_it(count):
    with pytest.raises(ValueError, match=f"section count {count} "):
        check_section_count(count)
    check_section_count(0)
    check_section_count(32)


def record(dtype, **fields):
    rec = np.zeros(1, dtype=dtype)[0]
    for name, value in fields.items():
        rec[name] = value
    return rec


GOOD_QUOTE = dict(kind=MD_KIND_QUOTE, bid_px=1_000_000, ask_px=1_000_100)
GOOD_INTENT = dict(side=1, qty=5, order_type=ORDER_TYPE_IOC)
GOOD_ORDER = dict(side=-1, qty=5, order_id=7)
GOOD_FILL = dict(exec_type=EXEC_FILL, last_qty=3, leaves_qty=2)


@pytest.mark.parametrize("check, dtype, fields", [
    (check_market_data, MARKET_DATA_DTYPE, GOOD_QUOTE),
    (check_market_data, MARKET_DATA_DTYPE, dict(kind=MD_KIND_TRADE, trade_px=5, trade_qty=1)),
    (check_order_intent, ORDER_INTENT_DTYPE, GOOD_INTENT),
    (check_order, ORDER_DTYPE, GOOD_ORDER),
    (check_fill, FILL_DTYPE, GOOD_FILL),
    (check_fill, FILL_DTYPE, dict(exec_type=EXEC_NEW, leaves_qty=5)),
])
def test_check_record_should_accept_a_well_formed_record(check, dtype, fields):
    check(record(dtype, **fields))


@pytest.mark.parametrize("check, dtype, fields, message", [
    (check_market_data, MARKET_DATA_DTYPE, dict(GOOD_QUOTE, kind=3), "kind 3"),
    (check_market_data, MARKET_DATA_DTYPE, dict(GOOD_QUOTE, bid_px=1_000_100), "bid_px 1000100 >= ask_px 1000100"),
    (check_order_intent, ORDER_INTENT_DTYPE, dict(GOOD_INTENT, side=0), "side 0"),
    (check_order_intent, ORDER_INTENT_DTYPE, dict(GOOD_INTENT, qty=-4), "qty -4"),
    (check_order_intent, ORDER_INTENT_DTYPE, dict(GOOD_INTENT, order_type=9), "order_type 9"),
    (check_order, ORDER_DTYPE, dict(GOOD_ORDER, side=2), "side 2"),
    (check_order, ORDER_DTYPE, dict(GOOD_ORDER, qty=0), "qty 0"),
    (check_order, ORDER_DTYPE, dict(GOOD_ORDER, order_id=0), "order_id 0"),
    (check_fill, FILL_DTYPE, dict(GOOD_FILL, exec_type=9), "exec_type 9"),
    (check_fill, FILL_DTYPE, dict(GOOD_FILL, last_qty=0), "last_qty 0"),
    (check_fill, FILL_DTYPE, dict(GOOD_FILL, leaves_qty=-1), "leaves_qty -1"),
])
def test_check_record_when_a_field_is_bad_then_value_error_names_the_value(check, dtype, fields, message):
    with pytest.raises(ValueError, match=message):
        check(record(dtype, **fields))


def test_layout_hash_should_change_when_a_dtype_changes(monkeypatch):
    before = shm_layouts.layout_hash()
    assert shm_layouts.layout_hash() == before
    widened = [(name, "<i8" if name == "qty" else ORDER_DTYPE.fields[name][0])
               for name in ORDER_DTYPE.names if name != "_reserved"]
    monkeypatch.setitem(shm_layouts.SHM_DTYPES, "order", np.dtype(widened, align=True))
    changed = shm_layouts.layout_hash()
    assert changed != before
    monkeypatch.setitem(shm_layouts.SHM_DTYPES, "order", ORDER_DTYPE)
    assert shm_layouts.layout_hash() == before


def test_layout_hash_should_change_with_the_layout_version(monkeypatch):
    before = shm_layouts.layout_hash()
    monkeypatch.setattr(shm_layouts, "LAYOUT_VERSION", shm_layouts.LAYOUT_VERSION + 1)
    assert shm_layouts.layout_hash() != before


def test_assert_layout_should_reject_a_wrong_size_offset_or_alignment():
    dtype = np.dtype([("a", np.uint64), ("b", np.uint32)], align=True)
    with pytest.raises(AssertionError, match="itemsize 16, expected 64"):
        assert_layout(dtype, {"a": 0, "b": 8}, 64)
    padded = np.dtype({"names": ["a", "b"], "formats": [np.uint64, np.uint32], "offsets": [0, 8],
                       "itemsize": 64})
    with pytest.raises(AssertionError, match="offsets differ"):
        assert_layout(padded, {"a": 0, "b": 12}, 64)
    unaligned = np.dtype({"names": ["a"], "formats": [np.uint64], "offsets": [4], "itemsize": 64})
    with pytest.raises(AssertionError, match="not aligned"):
        assert_layout(unaligned, {"a": 4}, 64)
    assert_layout(padded, {"a": 0, "b": 8}, 64)


def test_describe_should_cover_every_field_offset_and_type():
    text = describe(ORDER_DTYPE)
    assert text.startswith("itemsize=64;")
    assert "qty:<i4:()@36" in text and "limit_px:<i8:()@40" in text


HASH_IN_CHILD = ("import importlib, sys\nfrom tickpipe import shm_layouts\n"
                 "for name in sys.argv[1:]: importlib.import_module(name)\n"
                 "print(shm_layouts.layout_hash())")


def test_layout_hash_should_not_depend_on_which_modules_a_process_imported():
    # A tool that imports less than the engine must still attach to its segment.
    every_layout = [f"tickpipe.shm_layouts.{module.name}" for module in pkgutil.iter_modules(shm_layouts.__path__)]

    def child_hash(*modules):
        return int(loops.python("-c", HASH_IN_CHILD, *modules).stdout)
    assert child_hash() == child_hash(*every_layout, "tickpipe.cli.main", "tickpipe.engine.segment") == \
        shm_layouts.layout_hash()
