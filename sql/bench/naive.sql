-- The naive conversion, as a reference: add a uuid column, backfill it with an
-- UPDATE, copy each parent's new key into every child with UPDATE ... FROM, then swap the
-- columns and rebuild keys, indexes and foreign keys. One transaction. Every UPDATE writes a
-- new version of every row, so the tables end at about twice their size.

ALTER TABLE users ADD COLUMN new_id uuid;
UPDATE users SET new_id = gen_random_uuid();

ALTER TABLE orders ADD COLUMN new_id uuid;
UPDATE orders SET new_id = gen_random_uuid();

ALTER TABLE users ADD COLUMN new_referred_by uuid;
UPDATE users AS u SET new_referred_by = r.new_id
FROM users AS r
WHERE u.referred_by = r.id;

ALTER TABLE orders ADD COLUMN new_user_id uuid;
UPDATE orders AS o SET new_user_id = u.new_id
FROM users AS u
WHERE o.user_id = u.id;

ALTER TABLE order_items ADD COLUMN new_order_id uuid;
UPDATE order_items AS i SET new_order_id = o.new_id
FROM orders AS o
WHERE i.order_id = o.id;

ALTER TABLE sessions ADD COLUMN new_user_id uuid;
UPDATE sessions AS s SET new_user_id = u.new_id
FROM users AS u
WHERE s.user_id = u.id;

-- Swap: the old columns go (their FKs, keys, indexes and sequences with them).
ALTER TABLE order_items DROP CONSTRAINT order_items_order_id_fkey;
ALTER TABLE sessions DROP CONSTRAINT sessions_user_id_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey;
ALTER TABLE users DROP CONSTRAINT users_referred_by_fkey;

ALTER TABLE users DROP COLUMN id, DROP COLUMN referred_by;
ALTER TABLE users RENAME COLUMN new_id TO id;
ALTER TABLE users RENAME COLUMN new_referred_by TO referred_by;
ALTER TABLE users ALTER COLUMN id SET NOT NULL, ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE users ADD PRIMARY KEY (id);

ALTER TABLE orders DROP COLUMN id, DROP COLUMN user_id;
ALTER TABLE orders RENAME COLUMN new_id TO id;
ALTER TABLE orders RENAME COLUMN new_user_id TO user_id;
ALTER TABLE orders ALTER COLUMN id SET NOT NULL, ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE orders ALTER COLUMN user_id SET NOT NULL;
ALTER TABLE orders ADD PRIMARY KEY (id);

ALTER TABLE order_items DROP COLUMN order_id;
ALTER TABLE order_items RENAME COLUMN new_order_id TO order_id;
ALTER TABLE order_items ALTER COLUMN order_id SET NOT NULL;

ALTER TABLE sessions DROP COLUMN user_id;
ALTER TABLE sessions RENAME COLUMN new_user_id TO user_id;
ALTER TABLE sessions ALTER COLUMN user_id SET NOT NULL;

CREATE INDEX users_referred_by_idx ON users (referred_by);
CREATE INDEX orders_user_id_idx ON orders (user_id);
CREATE INDEX order_items_order_id_idx ON order_items (order_id);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

ALTER TABLE users ADD CONSTRAINT users_referred_by_fkey FOREIGN KEY (referred_by) REFERENCES users (id);
ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE order_items ADD CONSTRAINT order_items_order_id_fkey FOREIGN KEY (order_id)
REFERENCES orders (id) ON DELETE CASCADE;
ALTER TABLE sessions ADD CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id)
REFERENCES users (id) ON DELETE CASCADE;
