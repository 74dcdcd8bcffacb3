-- Benchmark schema: users -> orders -> order_items, a self-FK on users and a
-- small sessions table. keyshift converts users and orders; every FK below follows them.
-- Indexes on every FK column, as a DBA would have them.

CREATE TABLE users (
    id bigserial PRIMARY KEY,
    referred_by bigint REFERENCES users (id),
    email text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX users_referred_by_idx ON users (referred_by);

CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    status text NOT NULL,
    total numeric(12, 2) NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX orders_user_id_idx ON orders (user_id);

CREATE TABLE order_items (
    id bigserial PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    sku text NOT NULL,
    quantity integer NOT NULL,
    price numeric(10, 2) NOT NULL
);

CREATE INDEX order_items_order_id_idx ON order_items (order_id);

CREATE TABLE sessions (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token text NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
