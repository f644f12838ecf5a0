"""Two berth nodes on one database: a configuration change made on one reaches the other within
its cache time (5 s), without a restart."""

from __future__ import annotations

import time


def test_a_configuration_change_on_one_node_reaches_the_other(start_server, tmp_path) -> None:
    first = start_server(data_dir=tmp_path / "shared")
    second = start_server(data_dir=tmp_path / "shared")
    with first.client() as one, second.client() as two:
        assert two.get("/api/v2.0/configurations").json()["notification_enable"]["value"] is True
        assert one.put("/api/v2.0/configurations", json={"notification_enable": False}).status_code == 200
        deadline = time.monotonic() + 10
        while two.get("/api/v2.0/configurations").json()["notification_enable"]["value"] is not False:
            assert time.monotonic() < deadline, "the second node kept the old configuration"
            time.sleep(0.5)
