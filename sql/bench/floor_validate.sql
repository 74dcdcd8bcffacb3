-- The floor's second half: validate every foreign key of the benchmark tables
-- once, as the conversion must. Dropping and re-adding each FK makes PostgreSQL check every
-- row of the child against the parent's key index. One transaction.

ALTER TABLE users DROP CONSTRAINT users_referred_by_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey;
ALTER TABLE order_items DROP CONSTRAINT order_items_order_id_fkey;
ALTER TABLE sessions DROP CONSTRAINT sessions_user_id_fkey;

ALTER TABLE users ADD CONSTRAINT users_referred_by_fkey FOREIGN KEY (referred_by) REFERENCES users (id);
ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE order_items ADD CONSTRAINT order_items_order_id_fkey FOREIGN KEY (order_id)
REFERENCES orders (id) ON DELETE CASCADE;
ALTER TABLE sessions ADD CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id)
REFERENCES users (id) ON DELETE CASCADE;
