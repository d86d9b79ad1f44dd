/* C view of the shm layouts in shm_layouts/*.py.
 *
 * Compiled into tickpipe.engine._atomics by cffi in API mode, so the C compiler lays
 * these out; tests/test_layouts.py compares every numpy offset with
 * cffi's offsetof/sizeof. Change both sides together.
 */
#ifndef TICKPIPE_LAYOUTS_H
#define TICKPIPE_LAYOUTS_H
#include <stdint.h>

struct tp_section_entry {
    char name[16];
    uint64_t offset;
    uint64_t size;
};

struct tp_segment_header {
    uint64_t magic;
    uint32_t layout_version;
    uint32_t header_size;
    uint64_t layout_hash;
    uint64_t total_size;
    uint64_t owner_pid;
    uint64_t owner_start_ticks;
    int64_t created_unix_ns;
    uint64_t page_size;
    uint32_t backing;
    uint32_t locked;
    uint32_t section_count;
    uint32_t owner_uid;
    char engine_name[32];
    uint8_t _reserved[16];
    struct tp_section_entry sections[32];
};

struct tp_ring_header {
    uint64_t capacity;
    uint64_t record_size;
    uint64_t mask;
    uint64_t doorbell_offset;
    uint32_t consumer_may_sleep;
    uint32_t ring_id;
    char name[24];
    uint32_t gated;
    uint8_t _reserved0[60];
    uint64_t head;
    uint8_t _pad_head[120];
    uint64_t tail;
    uint8_t _pad_tail[120];
    uint32_t doorbell_armed;
    uint32_t doorbell_wake_seq;
    uint8_t _pad_doorbell[120];
    uint64_t high_water;
    uint64_t full_waits;
    uint8_t _pad_stats[112];
    uint64_t gate;
    uint8_t _pad_gate[376];
};

struct tp_market_data {
    uint64_t seq;
    int64_t origin_ns;
    int64_t publish_ns;
    uint16_t symbol_id;
    uint8_t kind;
    int8_t aggressor_side;
    int32_t trade_qty;
    int64_t bid_px;
    int64_t ask_px;
    int64_t trade_px;
    int32_t bid_qty;
    int32_t ask_qty;
};

struct tp_order_intent {
    uint64_t seq;
    int64_t origin_ns;
    int64_t publish_ns;
    uint64_t md_seq;
    uint16_t symbol_id;
    int8_t side;
    uint8_t order_type;
    int32_t qty;
    int64_t limit_px;
    uint64_t order_id;
    uint8_t request;
    uint8_t time_in_force;
    uint8_t _reserved[6];
};

struct tp_order {
    uint64_t seq;
    int64_t origin_ns;
    int64_t publish_ns;
    uint64_t intent_seq;
    uint16_t symbol_id;
    int8_t side;
    uint8_t order_type;
    int32_t qty;
    int64_t limit_px;
    uint64_t order_id;
    uint8_t request;
    uint8_t time_in_force;
    uint8_t reject_reason;
    uint8_t _reserved[5];
};

struct tp_fill {
    uint64_t seq;
    int64_t origin_ns;
    int64_t publish_ns;
    uint64_t order_id;
    uint16_t symbol_id;
    int8_t side;
    uint8_t exec_type;
    int32_t last_qty;
    int64_t last_px;
    int32_t cum_qty;
    int32_t leaves_qty;
    uint64_t order_seq;
    int64_t avg_px;
    int64_t order_px;
    int32_t order_qty;
    int32_t released_qty;
    uint8_t ord_status;
    uint8_t request;
    uint8_t reject_reason;
    uint8_t closes_order;
    uint8_t order_type;
    uint8_t time_in_force;
    uint8_t _reserved[34];
};

struct tp_open_order {
    uint64_t order_id;
    uint16_t symbol_id;
    int8_t side;
    uint8_t status;
    uint8_t order_type;
    uint8_t time_in_force;
    uint8_t reject_reason;
    uint8_t requests_out;
    int32_t qty;
    int32_t cum_qty;
    int32_t leaves_qty;
    int32_t queue_ahead;
    int64_t limit_px;
    int64_t avg_px;
    int64_t cum_notional;
    int64_t updated_ns;
};

struct tp_book_row {
    uint64_t version;
    int64_t bid_px;
    int64_t ask_px;
    int32_t bid_qty;
    int32_t ask_qty;
    int64_t update_ns;
    uint64_t md_seq;
    uint64_t no_market;
    uint8_t _reserved[8];
};

#endif
