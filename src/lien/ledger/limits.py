"""Every bound of the ledger, named in one place (units last: ``_minor``, ``_ms``, ``_bytes``).

These values are part of the protocol: two nodes with different limits would disagree on which
transactions execute, so they are constants of the protocol (version 2; none changed since
version 1), not settings.
"""

#: Version 2 derives the chain id from the genesis document (``ChainConfig``); this code still
#: reads the genesis documents of version 1, whose chains execute by the same rules.
PROTOCOL_VERSION = 2

#: Largest amount of one operation, in minor units (centimes): 1 000 000 000,00.
#: Far below 2**53 so that every amount and every sum of two is exact in JavaScript.
amount_minor_max = 100_000_000_000
#: Largest total issued nantie of one currency, and bound of any balance or limit.
supply_minor_max = 2**53 - 1 - amount_minor_max
#: A transaction is valid until ``expires`` (ms since the Unix epoch), at most this far ahead.
expiry_window_ms_max = 24 * 3600 * 1000
memo_bytes_max = 256
reference_bytes_max = 64
nonce_bytes_max = 64
name_bytes_max = 80
signatures_max = 16
owner_keys_max = 8
delegations_max = 32
#: Largest canonical body of one transaction.
body_bytes_max = 2048
#: Largest encoded transaction (body, signatures and JSON punctuation) accepted by a node.
transaction_bytes_max = 4096
block_transactions_max = 5000
batch_transactions_max = 5000
#: A block is cut at most this long after its first transaction entered the log.
block_interval_ms = 100
currency_code_bytes_min = 2
currency_code_bytes_max = 12
chain_id_bytes_max = 64
#: Hex digits of the genesis document's SHA-256 in a derived chain id (128 bits).
chain_id_digest_hex = 32
#: The human part of a chain id (``name`` in the genesis document): what is left of
#: ``chain_id_bytes_max`` after ``-`` and the digest.
chain_name_bytes_max = chain_id_bytes_max - 1 - chain_id_digest_hex
validators_max = 64
basis_points_max = 10_000
#: Active standing orders one account may have as payer at once.
standing_orders_per_account_max = 32
#: Standing-order runs one block executes at most; the orders still due wait for the next
#: block, in (due time, order id) order.
order_runs_per_block_max = 1000
#: The last due time of a standing order: the end of year 9999 UTC (calendar arithmetic).
order_due_ms_max = 253_402_300_799_999
