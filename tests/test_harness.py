"""The test harness itself runs a real server (not a mock)."""


def test_real_postgresql(conn):
    version = conn.execute("SHOW server_version_num").fetchone()[0]
    assert int(version) >= 130000
    assert conn.execute("SELECT current_user").fetchone()[0] == "postgres"
