"""Upper bounds of config values, shared by engine/config.py and the roles' own
sections (workers/<role>/role.py). Import-light."""

# Upper bounds. Every int in the config ends up in an int64 (a params array, a shm
# record) and in arithmetic there, where an overflow is silent: these keep it in range.
MAX_RATE = 100_000_000          # ticks/s; above what flat out (rate = 0) reaches, ~30 M/s
MAX_SYMBOLS = 1 << 16           # records carry symbol_id as a uint16
MAX_PRICE = 10 ** 11            # price units: 10,000,000.00 a lot at PRICE_SCALE 10_000
MAX_QTY = 1_000_000             # lots in one quote or order (the records' qty is int32)
MAX_NOTIONAL = MAX_PRICE * MAX_QTY  # 1e17: risk's qty x price stays ~90x below int64's max
MAX_NOTIONAL_CCY = 1e13             # currency; in price units x lots it stays below MAX_NOTIONAL
MAX_POSITION = 10 ** 12         # lots; the money bound (check_money_bounds) allows less
MAX_BAND_BPS = 10_000           # 100 %; risk computes band_bps x mid
MAX_ORDERS_PER_S = 10_000_000   # risk keeps one int64 send time per order: 80 MB at most
MAX_SEED = 2 ** 32 - 1          # the feed multiplies the seed by 2654435761 in a uint64
MAX_EVERY = 1_000_000_000       # "every N ticks/orders"; larger means never anyway
MAX_BACKOFF_PASSES = 10 ** 9    # idle passes; more is a spin or a yield for good
# A strategy's state rows, all symbols together (in the segment, committed per batch).
MAX_STATE_SECTION_BYTES = 128 << 20
