"""Client keepalive must never trip the server's ping enforcement (STYLE.md "Async")."""

from __future__ import annotations

from effectd._channel import channel_options, server_options


def test_client_keepalive_is_within_what_the_server_permits() -> None:
    client = dict(channel_options())
    server = dict(server_options())
    assert int(client["grpc.keepalive_time_ms"]) >= int(server["grpc.http2.min_recv_ping_interval_without_data_ms"])
    assert client["grpc.max_receive_message_length"] == server["grpc.max_send_message_length"]
    assert client["grpc.max_send_message_length"] == server["grpc.max_receive_message_length"]


def test_tests_get_no_port_reuse_by_default() -> None:
    assert dict(server_options())["grpc.so_reuseport"] == 0
    assert dict(server_options(reuse_port=True))["grpc.so_reuseport"] == 1


def test_several_replicas_make_one_target() -> None:
    from effectd._channel import channel_target

    assert channel_target("127.0.0.1:50551") == "127.0.0.1:50551"
    assert channel_target(["127.0.0.1:1", "127.0.0.2:2"]) == "ipv4:127.0.0.1:1,127.0.0.2:2"
    assert channel_target(["[::1]:5"]) == "ipv6:[::1]:5"
    assert channel_target(["localhost:7"]).endswith(":7")
    import pytest

    with pytest.raises(ValueError):
        channel_target(["no-port"])
