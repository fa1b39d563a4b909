-- @materialized: incremental
-- @strategy: merge
-- @unique_key: order_id
SELECT
    order_id,
    CAST(order_date AS DATE) AS order_date,
    customer,
    lower(trim(product)) AS product,
    quantity,
    unit_price,
    quantity * unit_price AS total,
    _ingested_at
FROM bronze.orders
WHERE quantity > 0
{% if is_incremental() %}  AND _ingested_at > {{ watermark('_ingested_at') }}{% endif %}
