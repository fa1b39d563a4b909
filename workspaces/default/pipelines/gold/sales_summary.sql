-- @materialized: table
-- Daily revenue by product.
SELECT
    order_date,
    product,
    SUM(quantity) AS units,
    SUM(total) AS revenue,
    COUNT(*) AS orders
FROM silver.sales
GROUP BY order_date, product
ORDER BY order_date, product
