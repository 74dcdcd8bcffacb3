-- Benchmark data: N users (session setting keyshift.bench_scale, 1000 when unset),
-- 10N orders, 30N order items, N/10 sessions. Deterministic: every value derives from the
-- series number. One user in five was referred by an earlier user.

INSERT INTO users (id, referred_by, email, created_at)
SELECT
    s.g AS id,
    CASE WHEN s.g % 5 = 0 THEN 1 + (s.g * 7919) % (s.g - 1) END AS referred_by,
    'user' || s.g || '@example.com' AS email,
    timestamptz '2020-01-01 00:00:00+00' + s.g * interval '7 minutes' AS created_at
FROM generate_series(1, coalesce(nullif(current_setting('keyshift.bench_scale', TRUE), ''), '1000')::bigint) AS s (g);

INSERT INTO orders (id, user_id, status, total, created_at)
SELECT
    s.g AS id,
    1 + (s.g * 7919) % u.n AS user_id,
    (ARRAY['new', 'paid', 'shipped', 'delivered'])[1 + s.g % 4] AS status,
    (s.g % 10000) / 100.0 AS total,
    timestamptz '2020-01-01 00:00:00+00' + s.g * interval '41 seconds' AS created_at
FROM (SELECT count(*) AS n FROM users) AS u
CROSS JOIN LATERAL generate_series(1, 10 * u.n) AS s (g);

INSERT INTO order_items (id, order_id, sku, quantity, price)
SELECT
    s.g AS id,
    1 + (s.g - 1) / 3 AS order_id,
    'SKU-' || (s.g * 31) % 5000 AS sku,
    1 + s.g % 5 AS quantity,
    (s.g % 2000) / 100.0 AS price
FROM (SELECT count(*) AS n FROM orders) AS o
CROSS JOIN LATERAL generate_series(1, 3 * o.n) AS s (g);

INSERT INTO sessions (id, user_id, token, expires_at)
SELECT
    s.g AS id,
    1 + (s.g * 104729) % u.n AS user_id,
    md5('session:' || s.g) AS token,
    timestamptz '2030-01-01 00:00:00+00' + s.g * interval '1 minute' AS expires_at
FROM (SELECT count(*) AS n FROM users) AS u
CROSS JOIN LATERAL generate_series(1, greatest(u.n / 10, 1)) AS s (g);

SELECT setval('users_id_seq', (SELECT max(u.id) FROM users AS u));
SELECT setval('orders_id_seq', (SELECT max(o.id) FROM orders AS o));
SELECT setval('order_items_id_seq', (SELECT max(i.id) FROM order_items AS i));
SELECT setval('sessions_id_seq', (SELECT max(s.id) FROM sessions AS s));
