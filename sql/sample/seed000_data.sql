-- Seed 000 sample data. Size: the session setting keyshift.sample_scale = number of users
-- (1000 when unset). Deterministic: every value derives from the series number.
--
-- Rows per user g (1..N):
--   custom_user          1
--   user_profile         1                      (ids are a fixed permutation, not = user_id)
--   verification_token   1 + g % 3              (1, 2 or 3; 2 on average)
--   social_account       1 when g % 3 <> 0      (two thirds of users; google / github)
--   django_session       1 when g % 2 = 0       (half the users; user id also inside session_data)
--   plus N / 20 anonymous django_session rows (user_id NULL, no _auth_user_id in the data).

INSERT INTO custom_user (id, password, last_login, email, username, is_active, is_staff, date_joined)
SELECT
    s.g AS id,
    'pbkdf2_sha256$600000$' || left(md5('salt:' || s.g), 22) || '$' || md5('pw:' || s.g) || '=' AS password,
    CASE
        WHEN s.g % 7 = 0 THEN NULL
        ELSE
            timestamptz '2019-03-01 00:00:00+00'
            + s.g * interval '17 minutes'
            + ((s.g * 7919) % 600) * interval '1 second'
            + ((s.g * 31) % 90) * interval '1 day'
    END AS last_login,
    'user' || s.g || '@example.com' AS email,
    'user' || s.g AS username,
    s.g % 50 <> 0 AS is_active,
    s.g % 1000 = 1 AS is_staff,
    -- increasing with id; the jitter (< 10 min) is smaller than the 17 min step
    timestamptz '2019-03-01 00:00:00+00'
    + s.g * interval '17 minutes'
    + ((s.g * 7919) % 600) * interval '1 second' AS date_joined
FROM generate_series(1, coalesce(nullif(current_setting('keyshift.sample_scale', TRUE), ''), '1000')::int) AS s (g);

INSERT INTO user_profile (id, bio, avatar, user_id)
SELECT
    row_number() OVER (ORDER BY md5('profile:' || u.id), u.id) AS id,
    CASE WHEN u.id % 5 = 0 THEN '' ELSE 'Hi, I am ' || u.username || '.' END AS bio,
    CASE WHEN u.id % 4 = 0 THEN 'avatars/' || u.id || '.png' END AS avatar,
    u.id AS user_id
FROM custom_user AS u;

INSERT INTO verification_token (id, token, created_at, expires_at, user_id)
SELECT
    row_number() OVER (ORDER BY u.id, k.n) AS id,
    md5('vt:' || u.id || ':' || k.n) || md5('vt2:' || u.id || ':' || k.n) AS token,
    u.date_joined + k.n * interval '3 days' AS created_at,
    u.date_joined + k.n * interval '3 days' + interval '24 hours' AS expires_at,
    u.id AS user_id
FROM custom_user AS u
CROSS JOIN LATERAL generate_series(1, 1 + u.id % 3) AS k (n);

INSERT INTO social_account (id, provider, uid, extra_data, user_id)
SELECT
    row_number() OVER (ORDER BY u.id) AS id,
    CASE WHEN u.id % 3 = 1 THEN 'google' ELSE 'github' END AS provider,
    CASE WHEN u.id % 3 = 1 THEN (100000000000 + u.id * 7919)::text ELSE (u.id * 13)::text END AS uid,
    jsonb_build_object('email', u.email, 'login', u.username, 'verified_email', u.id % 10 <> 0) AS extra_data,
    u.id AS user_id
FROM custom_user AS u
WHERE u.id % 3 <> 0;

INSERT INTO django_session (session_key, session_data, expire_date, user_id)
SELECT
    md5('session:' || u.id) AS session_key,
    '{"_auth_user_id": "' || u.id || '", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend"}' AS session_data,
    timestamptz '2030-01-01 00:00:00+00' + u.id * interval '1 minute' AS expire_date,
    u.id AS user_id
FROM custom_user AS u
WHERE u.id % 2 = 0;

INSERT INTO django_session (session_key, session_data, expire_date, user_id)
SELECT
    md5('anonymous-session:' || s.g) AS session_key,
    '{"django_language": "en"}' AS session_data,
    timestamptz '2030-01-01 00:00:00+00' + s.g * interval '1 minute' AS expire_date,
    NULL AS user_id
FROM generate_series(1, coalesce(nullif(current_setting('keyshift.sample_scale', TRUE), ''), '1000')::int / 20) AS s (g);

-- As after a `loaddata`: the key sequences continue past the loaded ids.
SELECT setval(pg_get_serial_sequence('custom_user', 'id'), max(id)) FROM custom_user;
SELECT setval(pg_get_serial_sequence('user_profile', 'id'), max(id)) FROM user_profile;
SELECT setval(pg_get_serial_sequence('verification_token', 'id'), max(id)) FROM verification_token;
SELECT setval(pg_get_serial_sequence('social_account', 'id'), max(id)) FROM social_account;

ANALYZE custom_user, user_profile, verification_token, social_account, django_session;
